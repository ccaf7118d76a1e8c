package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sharedViewPolicy shows t1 and t3 to everyone and t2 to admins (its lists read
// the groups only, so callers with the same groups may share views), lets
// everyone but mallory in, and lets only alice call.
const sharedViewPolicy = `package mcpgate.authz

visible contains i if {
	some i, e in input.catalog
	_shows(e.tool.upstream_name)
}

_shows("t1")

_shows("t2") if "admins" in input.user.groups

_shows("t3")

default decision := {"allow": false, "reasons": ["refused"]}

decision := {"allow": true, "reasons": ["in"]} if {
	input.phase == "initialize"
	input.user.sub != "mallory"
}

decision := {"allow": true, "reasons": ["shown"]} if {
	input.phase == "list"
	_shows(input.tool.upstream_name)
}

decision := {"allow": true, "reasons": ["alice calls"]} if {
	input.phase == "call"
	input.user.sub == "alice"
}
`

// TestSharedViews: 2026-07-28 requests of callers whose list decisions read
// the same values (here: the same groups) share one view, which keeps
// nothing of one caller: each lists what its policy shows, is let in or
// refused for itself (mallory is refused after alice was let in on the
// same view), and each call is decided for its caller. 2025 sessions keep
// views of their own.
func TestSharedViews(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	for _, name := range []string{"t1", "t2"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
		})
	}
	up := startUpstream(t, srv)
	var decisions testtools.SyncBuffer
	dl := policy.NewDecisionLog(&decisions, 1024)
	engine := policy.NewEngine(policy.Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute, DecisionLog: dl})
	if err := engine.LoadModules(map[string]string{"p.rego": sharedViewPolicy}, nil); err != nil {
		t.Fatal(err)
	}
	people := map[string]*authn.Identity{}
	for _, p := range []struct{ sub, group string }{{"alice", "eng"}, {"bob", "eng"}, {"mallory", "eng"}, {"carol", "admins"}} {
		people[p.sub] = employee(p.sub, p.group)
	}
	gw := peopleGateway(t, engine, up.URL, people)
	as := func(sub, version string) *mcp.ClientSession {
		return connectWith(t, gw.URL, version, nil, asEmployee(sub))
	}
	views := func() int {
		gw.viewsMu.Lock()
		defer gw.viewsMu.Unlock()
		return len(gw.views)
	}
	lists := map[string][]string{"alice": {"up__t1"}, "bob": {"up__t1"}, "carol": {"up__t1", "up__t2"}}
	for _, sub := range []string{"alice", "mallory", "bob", "carol"} {
		if sub == "mallory" {
			// On the view alice was let in on: refused all the same.
			body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{` +
				`"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},` +
				`"io.modelcontextprotocol/clientInfo":{"name":"test-client","version":"1"}}}}`
			status, got := postMCP(t, gw.URL, body, map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": "tools/list", "X-Test-User": "mallory"})
			if strings.Contains(got, "up__t1") || !strings.Contains(got, "refused") {
				t.Errorf("mallory's list: HTTP %d %s, want refused", status, got)
			}
			continue
		}
		cs := as(sub, modern)
		res, err := cs.ListTools(ctxTimeout(t), nil)
		if err != nil {
			t.Fatalf("%s: %v", sub, err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, lists[sub]) {
			t.Errorf("%s lists %v, want %v", sub, names, lists[sub])
		}
		call, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__t1"})
		if allowed := err == nil && !call.IsError; allowed != (sub == "alice") {
			t.Errorf("%s's call allowed: %v (%v), want %v", sub, allowed, err, sub == "alice")
		}
	}
	// alice, mallory and bob share a view (same groups), carol has another.
	if n := views(); n != 2 {
		t.Errorf("%d views for the 2026-07-28 requests of callers in 2 group sets", n)
	}
	// Each caller's list decisions are in the decision log, bob's too,
	// though the view he uses was decided for alice.
	for _, sub := range []string{"alice", "bob", "carol"} {
		eventually(t, sub+"'s list decision in the decision log", func() bool {
			return listedBy(t, decisions.String())[sub]
		})
	}
	as("alice", legacy)
	as("bob", legacy)
	if n := views(); n != 4 {
		t.Errorf("%d views after two 2025 sessions, want 2 more (their own)", n)
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
}

// employee is a verified identity in group, with a PolicyKey as authn sets
// it on every verified token.
func employee(sub, group string) *authn.Identity {
	return &authn.Identity{Issuer: "https://idp.test", Subject: sub, Groups: []string{group}, PolicyKey: "key-" + sub}
}

// peopleGateway is a gateway deciding with engine, in front of the
// upstream at upURL, whose requests are signed in as the employee that
// X-Test-User names.
func peopleGateway(t *testing.T, engine Authorizer, upURL string, people map[string]*authn.Identity) *testGateway {
	t.Helper()
	opts := testOptions()
	opts.Authorizer = engine
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
		h := signedIn(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id := people[r.Header.Get("X-Test-User")]; id != nil {
				r = r.WithContext(withTestIdentity(r.Context(), id))
			}
			h.ServeHTTP(w, r)
		})
	}}
	return startGateway(t, opts, upstreamConfig("up", upURL))
}

func asEmployee(sub string) *http.Client {
	return &http.Client{Transport: headerTransport{http.Header{"X-Test-User": {sub}}}}
}

// Under revision A, alice and bob (both in eng) see sec://r; revision B
// shows it to alice only.
const (
	sharedRevA = `package mcpgate.authz
visible contains i if { some i, _ in input.catalog; "eng" in input.user.groups }
default decision := {"allow": false, "reasons": ["refused"]}
decision := {"allow": true, "reasons": ["in"]} if input.phase == "initialize"
decision := {"allow": true, "reasons": ["shown"]} if { input.phase == "list"; "eng" in input.user.groups }
decision := {"allow": true, "reasons": ["call"]} if input.phase == "call"
`
	sharedRevB = `package mcpgate.authz
visible contains i if { some i, e in input.catalog; _shows(e) }
_shows(e) if e.resource.uri != "sec://r"
_shows(e) if { e.resource.uri == "sec://r"; input.user.sub == "alice" }
default decision := {"allow": false, "reasons": ["refused"]}
decision := {"allow": true, "reasons": ["in"]} if input.phase == "initialize"
decision := {"allow": true, "reasons": ["shown"]} if { input.phase == "list"; _shows(input) }
decision := {"allow": true, "reasons": ["call"]} if { input.phase == "call"; input.resource.uri != "sec://r" }
decision := {"allow": true, "reasons": ["call"]} if { input.phase == "call"; input.user.sub == "alice" }
`
)

// TestSharedViewsAfterReload: a policy reload that hides a resource from
// bob, who shared alice's view, stops the updates of his subscription
// (a subscriptions/listen stream keeps a view of its caller's) and his
// lists follow his own decisions (found in review: the shared view was
// re-decided with alice's identity, and bob kept receiving updates).
func TestSharedViewsAfterReload(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	srv.AddResource(&mcp.Resource{URI: "sec://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "sec://r", Text: "secret"}}}, nil
	})
	up := startLegacyUpstream(t, srv)
	engine := policy.NewEngine(policy.Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute})
	if err := engine.LoadModules(map[string]string{"p.rego": sharedRevA}, nil); err != nil {
		t.Fatal(err)
	}
	gw := peopleGateway(t, engine, up.URL, map[string]*authn.Identity{"alice": employee("alice", "eng"), "bob": employee("bob", "eng")})
	alice := connectWith(t, gw.URL, modern, nil, asEmployee("alice"))
	if _, err := alice.ListResources(ctxTimeout(t), nil); err != nil { // alice makes the shared view
		t.Fatal(err)
	}
	updated := make(chan string, 64)
	bob := connectWith(t, gw.URL, modern, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updated <- req.Params.URI },
	}, asEmployee("bob"))
	if err := bob.Subscribe(ctxTimeout(t), &mcp.SubscribeParams{URI: "sec://r"}); err != nil {
		t.Fatalf("bob subscribes under revision A: %v", err)
	}
	eventually(t, "an update under revision A", func() bool {
		srv.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: "sec://r"})
		select {
		case <-updated:
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
	if err := engine.LoadModules(map[string]string{"p.rego": sharedRevB}, nil); err != nil {
		t.Fatal(err)
	}
	gw.rebuild()
	for _, who := range []struct {
		cs   *mcp.ClientSession
		sees bool
	}{{bob, false}, {alice, true}} {
		res, err := who.cs.ListResources(ctxTimeout(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if sees := slices.ContainsFunc(res.Resources, func(r *mcp.Resource) bool { return r.URI == "sec://r" }); sees != who.sees {
			t.Errorf("lists sec://r: %v, want %v", sees, who.sees)
		}
	}
	// A ping to bob's stream ends anything sent before; then nothing more.
	for len(updated) > 0 {
		<-updated
	}
	for range 10 {
		srv.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: "sec://r"})
		select {
		case <-updated:
			t.Fatal("bob still receives updates of sec://r, which revision B hides from him")
		case <-time.After(30 * time.Millisecond):
		}
	}
}

// slowVisiblePolicy: visible reads the groups only but times out; the
// per-entry fallback's decision reads the subject (t2 for alice only).
const slowVisiblePolicy = `package mcpgate.authz
visible contains i if {
	some i, e in input.catalog
	"eng" in input.user.groups
	e.tool.upstream_name == "t1"
	count([x | some x in numbers.range(1, 2000000); x % 7 == 0]) > 0
}
default decision := {"allow": false, "reasons": ["refused"]}
decision := {"allow": true, "reasons": ["in"]} if input.phase == "initialize"
decision := {"allow": true, "reasons": ["t1"]} if { input.phase == "list"; input.tool.upstream_name == "t1" }
decision := {"allow": true, "reasons": ["t2 alice"]} if { input.phase == "list"; input.tool.upstream_name == "t2"; input.user.sub == "alice" }
`

// TestSharedViewsNotFromFallback: a list decided entry by entry after the
// list query timed out (with the caller's whole input) is not shared:
// bob does not see what alice's decisions showed her (found in review).
func TestSharedViewsNotFromFallback(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	for _, name := range []string{"t1", "t2"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	}
	up := startUpstream(t, srv)
	engine := &countingLists{Engine: policy.NewEngine(policy.Options{Logger: slog.New(slog.DiscardHandler), Timeout: 30 * time.Millisecond})}
	if err := engine.LoadModules(map[string]string{"p.rego": slowVisiblePolicy}, nil); err != nil {
		t.Fatal(err)
	}
	gw := peopleGateway(t, engine, up.URL, map[string]*authn.Identity{"alice": employee("alice", "eng"), "bob": employee("bob", "eng")})
	for _, c := range []struct {
		sub  string
		want []string
	}{{"alice", []string{"up__t1", "up__t2"}}, {"bob", []string{"up__t1"}}} {
		names := toolNames(t, connectWith(t, gw.URL, modern, nil, asEmployee(c.sub)))
		slices.Sort(names)
		if !slices.Equal(names, c.want) {
			t.Errorf("%s lists %v, want %v", c.sub, names, c.want)
		}
	}
	// Bob's next requests use his own view without trying the shared one
	// again (found in review: each request ran the list query, timed out
	// and decided entry by entry again).
	before := engine.lists.Load()
	bob := connectWith(t, gw.URL, modern, nil, asEmployee("bob"))
	for range 3 {
		toolNames(t, bob)
	}
	if after := engine.lists.Load(); after != before {
		t.Errorf("%d more list decisions for requests of a caller whose view was decided", after-before)
	}
}

// countingLists is the engine, counting its list decisions.
type countingLists struct {
	*policy.Engine
	lists atomic.Int64
}

func (c *countingLists) DecideList(ctx context.Context, in *policy.Input, cat *policy.ListCatalog) []bool {
	c.lists.Add(1)
	return c.Engine.DecideList(ctx, in, cat)
}

func (c *countingLists) DecideListShared(ctx context.Context, key string, in *policy.Input, cat *policy.ListCatalog) ([]bool, bool) {
	c.lists.Add(1)
	return c.Engine.DecideListShared(ctx, key, in, cat)
}

// listedBy says whose list decisions the decision-log lines log holds.
func listedBy(t *testing.T, log string) map[string]bool {
	t.Helper()
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var l struct {
			Phase   string `json:"phase"`
			UserSub string `json:"user_sub"`
		}
		if line != "" && json.Unmarshal([]byte(line), &l) == nil && l.Phase == "list" {
			listed[l.UserSub] = true
		}
	}
	return listed
}

// TestSharedViewsLogEachCallersLists: after the catalog changes, a caller
// on a shared view still has its own list decisions in the decision log
// (found in review: only the view's first caller's were logged).
func TestSharedViewsLogEachCallersLists(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	tool := func(name string) { addEmptyTool(srv, name) }
	tool("t1")
	up := startUpstream(t, srv)
	var decisions testtools.SyncBuffer
	dl := policy.NewDecisionLog(&decisions, 1024)
	t.Cleanup(func() { _ = dl.Close() })
	engine := policy.NewEngine(policy.Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute, DecisionLog: dl})
	if err := engine.LoadModules(map[string]string{"p.rego": sharedRevA}, nil); err != nil {
		t.Fatal(err)
	}
	gw := peopleGateway(t, engine, up.URL, map[string]*authn.Identity{"alice": employee("alice", "eng"), "bob": employee("bob", "eng")})
	alice, bob := connectWith(t, gw.URL, modern, nil, asEmployee("alice")), connectWith(t, gw.URL, modern, nil, asEmployee("bob"))
	toolNames(t, alice)
	toolNames(t, bob)
	tool("t3") // the upstream changes its tools: the catalog follows
	eventually(t, "bob lists the new tool", func() bool { return slices.Contains(toolNames(t, bob), "up__t3") })
	eventually(t, "bob's list decision over the new catalog in the decision log", func() bool {
		for _, line := range strings.Split(decisions.String(), "\n") {
			var l struct {
				Phase   string   `json:"phase"`
				UserSub string   `json:"user_sub"`
				Reasons []string `json:"reasons"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Phase == "list" && l.UserSub == "bob" &&
				slices.Contains(l.Reasons, "2 of 2 catalog entries visible") {
				return true
			}
		}
		return false
	})
}

// TestShownViews: callers of different groups whose lists show the same
// entries share one view (the view is named by what it shows, not by who
// asked), callers who see other entries never do, and a catalog change
// leaves the old views behind: each caller's lists are decided for the
// new catalog and the views are built again.
func TestShownViews(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	tool := func(name string) { addEmptyTool(srv, name) }
	tool("t1")
	tool("t2")
	up := startUpstream(t, srv)
	engine := policy.NewEngine(policy.Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute})
	if err := engine.LoadModules(map[string]string{"p.rego": sharedViewPolicy}, nil); err != nil {
		t.Fatal(err)
	}
	gw := peopleGateway(t, engine, up.URL, map[string]*authn.Identity{
		"alice": employee("alice", "eng"), "dave": employee("dave", "sales"), "carol": employee("carol", "admins"),
	})
	views := func() []*view {
		gw.viewsMu.Lock()
		defer gw.viewsMu.Unlock()
		return slices.Collect(maps.Values(gw.views))
	}
	want := map[string][]string{"alice": {"up__t1"}, "dave": {"up__t1"}, "carol": {"up__t1", "up__t2"}}
	check := func(round string) []*view {
		t.Helper()
		for sub, names := range want {
			got := toolNames(t, connectWith(t, gw.URL, modern, nil, asEmployee(sub)))
			slices.Sort(got)
			if !slices.Equal(got, names) {
				t.Errorf("%s: %s lists %v, want %v", round, sub, got, names)
			}
		}
		vs := views()
		if len(vs) != 2 {
			t.Errorf("%s: %d views for callers in 3 group sets that see 2 lists, want 2", round, len(vs))
		}
		for _, v := range vs {
			if v.sharedRevision == "" || v.catalogRevision != gw.catalog().revision {
				t.Errorf("%s: view %q: shared under %q, catalog %d, want a shared view of catalog %d", round, v.key, v.sharedRevision, v.catalogRevision, gw.catalog().revision)
			}
		}
		return vs
	}
	before := check("first lists")
	tool("t3") // the upstream changes its tools: every caller sees t3
	eventually(t, "the catalog has t3", func() bool { return gw.catalog().tools["up__t3"] != nil })
	want = map[string][]string{"alice": {"up__t1", "up__t3"}, "dave": {"up__t1", "up__t3"}, "carol": {"up__t1", "up__t2", "up__t3"}}
	for _, v := range check("after the catalog changed") {
		if slices.Contains(before, v) {
			t.Errorf("view %q of the old catalog still in use", v.key)
		}
	}
}

// addEmptyTool adds a tool named name that answers every call with an
// empty result.
func addEmptyTool(srv *mcp.Server, name string) {
	srv.AddTool(&mcp.Tool{Name: name, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
}
