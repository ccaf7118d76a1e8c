package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// cachePolicy: ping is allowed to everyone (caller and target only);
// guarded only when its argument open is true (it reads the arguments).
const cachePolicy = `package mcpgate.authz

default decision := {"allow": false, "reasons": ["no rule allows this"], "required_scopes": []}

decision := {"allow": true, "reasons": ["open"], "required_scopes": []} if input.phase in {"initialize", "list"}

decision := {"allow": true, "reasons": ["ping for all"], "required_scopes": []} if {
	input.phase == "call"
	input.tool.upstream_name == "ping"
}

decision := {"allow": true, "reasons": ["guarded when open"], "required_scopes": []} if {
	input.phase == "call"
	input.tool.upstream_name == "guarded"
	input.arguments.open == true
}
`

func pingGuardedServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	for _, name := range []string{"ping", "guarded"} {
		s.AddTool(&mcp.Tool{Name: name, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name}}}, nil
		})
	}
	return s
}

// The gateway decides calls through the engine's decision cache, keyed by
// the caller's PolicyKey (set when the token is verified) and the target:
// a decision that depends only on them (ping) comes to be served from the
// cache, logged as cached; one that reads the arguments (guarded) never
// is, and keeps following them.
func TestCallDecisionsServedFromCache(t *testing.T) {
	t.Parallel()
	url, idp, decisions := signedInGatewayWith(t, pingGuardedServer(), cachePolicy)
	hc := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "alice")}}}}
	cs := connectWith(t, url, legacy, nil, hc)
	call := func(name string, args map[string]any) error {
		_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__" + name, Arguments: args})
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		if err := call("ping", map[string]any{}); err != nil {
			t.Fatalf("ping: %v", err)
		}
		if err := call("guarded", map[string]any{"open": true}); err != nil {
			t.Fatalf("guarded, open: %v", err)
		}
		if err := call("guarded", map[string]any{"open": false}); err == nil || !strings.Contains(err.Error(), "denied by policy") {
			t.Fatalf("guarded, closed, after %d allowed calls: %v", i+1, err)
		}
		if i >= 3 && strings.Contains(decisions.buf.String(), `"cached":true`) || time.Now().After(deadline) {
			break
		}
	}
	counts := map[string]int{}
	for _, l := range decisions.lines() {
		if l["phase"] == "call" && l["cached"] == true {
			counts[l["target"].(string)]++
		}
	}
	if counts["up__ping"] == 0 {
		t.Error("no decision of ping (caller and target only) was served from the cache")
	}
	if counts["up__guarded"] != 0 {
		t.Errorf("%d decisions of guarded, which reads the arguments, were served from the cache", counts["up__guarded"])
	}
}
