package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// groupsPolicy lets a caller see and call only the tools named like its
// groups.
const groupsPolicy = `package mcpgate.authz

default decision := {"allow": false, "reasons": ["not in the tool's group"]}

decision := {"allow": true, "reasons": []} if input.tool.upstream_name in input.user.groups

decision := {"allow": true, "reasons": []} if input.phase == "initialize"
`

// A tool the caller may not use is answered exactly as a tool that does not
// exist, so nobody learns from the answer which servers and tools exist;
// the decision is still made and logged with its reasons.
func TestNoExistenceOracle(t *testing.T) {
	t.Parallel()
	engine := policy.NewEngine(policy.Options{})
	if err := engine.LoadModules(map[string]string{"p.rego": groupsPolicy}, nil); err != nil {
		t.Fatal(err)
	}
	rec := &recordingAuthorizer{}
	opts := testOptions()
	opts.Authorizer = &decidingRecorder{engine: engine, rec: rec}
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{groupsFromToken}
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	for _, name := range []string{"a", "b"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	}
	up := startUpstream(t, srv)
	gw := startGateway(t, opts, upstreamConfig("up", up.URL))
	bearer := &swappableBearer{}
	bearer.token.Store("a")
	for _, version := range []string{legacy, modern} {
		cs := connectWith(t, gw.URL, version, nil, &http.Client{Transport: bearer})
		_, hidden := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__b", Arguments: map[string]any{}})
		_, missing := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__c", Arguments: map[string]any{}})
		if hidden == nil || missing == nil {
			t.Fatalf("%s: hidden %v, missing %v: want both refused", version, hidden, missing)
		}
		if h, m := strings.ReplaceAll(hidden.Error(), "up__b", "X"), strings.ReplaceAll(missing.Error(), "up__c", "X"); h != m {
			t.Errorf("%s: a denied tool is answered %q, a missing one %q: an existence oracle", version, h, m)
		}
	}
	logged := false
	for _, in := range rec.recorded() {
		logged = logged || (in["phase"] == "call" && lookup(in, "tool.upstream_name") == "b")
	}
	if !logged {
		t.Error("the call to the hidden tool was not decided")
	}
}

// decidingRecorder decides with engine and records each input.
type decidingRecorder struct {
	engine *policy.Engine
	rec    *recordingAuthorizer
}

func (d *decidingRecorder) Decide(ctx context.Context, in *policy.Input) policy.Decision {
	d.rec.Decide(ctx, in)
	return d.engine.Decide(ctx, in)
}

func (d *decidingRecorder) Check(ctx context.Context, in *policy.Input) policy.Decision {
	return d.engine.Check(ctx, in)
}

func (d *decidingRecorder) Revision() string { return d.engine.Revision() }
