package gateway

import (
	"context"
	"encoding/json"
	"fmt"
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
	rec := &recordingAuthorizer{}
	gw, bearer := groupsGateway(t, &decidingRecorder{engine: groupsEngine(t), rec: rec})
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
		// Arguments the gateway cannot decide on tell nothing either (the
		// 2026-07-28 SDK client cannot send an unreadable number).
		if version == legacy {
			_, unreadable := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__b", Arguments: map[string]any{"n": json.Number("1e999")}})
			if u, m := strings.ReplaceAll(fmt.Sprint(unreadable), "up__b", "X"), strings.ReplaceAll(fmt.Sprint(missing), "up__c", "X"); u != m {
				t.Errorf("%s: unreadable arguments to a hidden tool answered %q, a missing tool %q", version, u, m)
			}
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
