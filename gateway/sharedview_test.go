package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sharedViewPolicy shows t1 to everyone and t2 to admins (its lists read
// the groups only, so callers with the same groups may share views), lets
// everyone but mallory in, and lets only alice call.
const sharedViewPolicy = `package mcpgate.authz

visible contains i if {
	some i, e in input.catalog
	_shows(e.tool.upstream_name)
}

_shows("t1")

_shows("t2") if "admins" in input.user.groups

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
	engine := policy.NewEngine(policy.Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute})
	if err := engine.LoadModules(map[string]string{"p.rego": sharedViewPolicy}, nil); err != nil {
		t.Fatal(err)
	}
	people := map[string]*authn.Identity{}
	for _, p := range []struct{ sub, group string }{{"alice", "eng"}, {"bob", "eng"}, {"mallory", "eng"}, {"carol", "admins"}} {
		people[p.sub] = &authn.Identity{Issuer: "https://idp.test", Subject: p.sub, Groups: []string{p.group}, PolicyKey: "key-" + p.sub}
	}
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
	gw := startGateway(t, opts, upstreamConfig("up", up.URL))
	as := func(sub, version string) *mcp.ClientSession {
		return connectWith(t, gw.URL, version, nil, &http.Client{Transport: headerTransport{http.Header{"X-Test-User": {sub}}}})
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
	as("alice", legacy)
	as("bob", legacy)
	if n := views(); n != 4 {
		t.Errorf("%d views after two 2025 sessions, want 2 more (their own)", n)
	}
}
