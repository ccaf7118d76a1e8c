package gateway

import (
	"slices"
	"testing"
)

// syncSet decides each entry's visibility exactly once per sync (every
// decision is a decision-log line), and leaves have equal to the visible
// entries of want.
func TestSyncSetDecidesOnce(t *testing.T) {
	t.Parallel()
	have := map[string]int{"kept": 1, "changed": 2, "hidden": 3, "gone": 4}
	want := map[string]int{"kept": 1, "changed": 20, "hidden": 3, "new": 5, "new-hidden": 6}
	calls := map[int]int{}
	var added, removed []string
	syncSet(have, want, func(e int) bool { calls[e]++; return e != 3 && e != 6 },
		func(k string, _ int) { added = append(added, k) }, func(ks ...string) { removed = append(removed, ks...) })
	for e, n := range calls {
		if n != 1 {
			t.Errorf("entry %d decided %d times, want once", e, n)
		}
	}
	if len(calls) != len(want) {
		t.Errorf("decided %d entries, want the %d of want", len(calls), len(want))
	}
	slices.Sort(added)
	slices.Sort(removed)
	if !slices.Equal(added, []string{"changed", "new"}) || !slices.Equal(removed, []string{"gone", "hidden"}) {
		t.Errorf("added %v, removed %v; want [changed new] and [gone hidden]", added, removed)
	}
	if len(have) != 3 || have["changed"] != 20 || have["kept"] != 1 || have["new"] != 5 {
		t.Errorf("have = %v", have)
	}
}

// A catalog change syncs at once only the views with open sessions (they
// are told list_changed); a view without sessions is synced when next
// used, not in the same sweep (each entry costs a policy decision).
func TestRebuildSyncsIdleViewsLazily(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("e", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("e", up.URL))
	cs := connect(t, gw.URL, modern, nil) // stateless: no session stays open
	if n := len(toolNames(t, cs)); n == 0 {
		t.Fatal("no tools")
	}
	gw.viewsMu.Lock()
	v := gw.views[identityKey(testUser)]
	gw.viewsMu.Unlock()
	revisionOf := func() uint64 { v.mu.Lock(); defer v.mu.Unlock(); return v.revision }
	eventually(t, "the stateless request's session to end", func() bool { return !hasSessions(v.server) })
	gw.rebuild()
	if got, want := revisionOf(), gw.catalog().revision; got == want {
		t.Fatalf("the idle view was synced by rebuild (revision %d)", got)
	}
	toolNames(t, cs)
	if got, want := revisionOf(), gw.catalog().revision; got != want {
		t.Errorf("after a request the view has revision %d, want the catalog's %d", got, want)
	}
	// A view with an open session is synced by rebuild itself.
	connect(t, gw.URL, legacy, nil)
	gw.rebuild()
	if got, want := revisionOf(), gw.catalog().revision; got != want {
		t.Errorf("a view with a session has revision %d after rebuild, want %d", got, want)
	}
}
