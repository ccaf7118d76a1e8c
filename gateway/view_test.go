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
