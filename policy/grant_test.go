package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mcpgate/mcpgate/internal/testtools"
)

// grantPolicy grants what is requested and in the catalogue, and says so.
const grantPolicy = `package mcpgate.authz

decision := {"allow": false}

grant := {"scopes": {s | some s in input.grant.requested; some c in input.catalogue; c.name == s}, "reasons": ["asked"]}
`

var ignoreGrantIDs = cmpopts.IgnoreFields(GrantDecision{}, "ID", "Revision")

func TestGrant(t *testing.T) {
	t.Parallel()
	checkScopeDocument(t, (*Engine).Grant, grantInput(), map[string]scopeCase{
		"set, sorted":             {`grant := {"scopes": {"b", "a"}, "reasons": {"r2", "r1"}}`, GrantDecision{Scopes: []string{"a", "b"}, Reasons: []string{"r1", "r2"}}},
		"array, in its order":     {`grant := {"scopes": ["b", "a"], "reasons": []}`, GrantDecision{Scopes: []string{"b", "a"}, Reasons: []string{}}},
		"nothing granted":         {`grant := {"scopes": [], "reasons": ["no"]}`, GrantDecision{Scopes: []string{}, Reasons: []string{"no"}}},
		"reasons may be left out": {`grant := {"scopes": ["a"]}`, GrantDecision{Scopes: []string{"a"}}},
		"more than requested":     {`grant := {"scopes": ["everything"]}`, GrantDecision{Scopes: []string{"everything"}}},
		"reads the grant input": {`grant := {"scopes": [input.grant.reason, input.client.id, input.catalogue[0].level]}`,
			GrantDecision{Scopes: []string{"step_up", "c-123", "write"}}},
	})
}

// scopeCase is a policy (module body after the package line) and the
// scopes it decides.
type scopeCase struct {
	policy string
	want   GrantDecision
}

// checkScopeDocument evaluates a scope document (Engine.Grant,
// Engine.UpstreamScopes) for in under each policy.
func checkScopeDocument(t *testing.T, eval func(*Engine, context.Context, *Input) GrantDecision, in *Input, tests map[string]scopeCase) {
	t.Helper()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, authzModule(tc.policy), Options{})
			got := eval(e, context.Background(), in)
			if diff := cmp.Diff(tc.want, got, ignoreGrantIDs); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.ID == "" || got.Revision != e.Revision() {
				t.Errorf("ID %q, Revision %q; want an id and %q", got.ID, got.Revision, e.Revision())
			}
		})
	}
}

func TestGrantFailsClosed(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		policy  string // module body after the package line; "" = nothing loaded
		timeout time.Duration
		input   *Input
		want    error
		reason  string
	}{
		"no policy loaded":     {want: ErrNoPolicy, reason: "no policy loaded"},
		"nil input":            {policy: `grant := {"scopes": ["a"]}`, want: ErrNoInput, reason: "no policy input"},
		"no grant rule":        {policy: `decision := {"allow": true}`, want: ErrUndefined, reason: "policy decision undefined"},
		"undefined grant":      {policy: `grant := {"scopes": ["a"]} if input.user.sub == "nobody"`, want: ErrUndefined},
		"not an object":        {policy: `grant := ["a"]`, want: ErrMalformed, reason: "policy decision malformed: not an object"},
		"scopes missing":       {policy: `grant := {"reasons": ["a"]}`, want: ErrMalformed, reason: "policy decision malformed: scopes is missing"},
		"scopes a string":      {policy: `grant := {"scopes": "a b"}`, want: ErrMalformed, reason: `policy decision malformed: "scopes" must be a set or array of strings`},
		"scopes not strings":   {policy: `grant := {"scopes": ["a", 1]}`, want: ErrMalformed},
		"reasons not strings":  {policy: `grant := {"scopes": ["a"], "reasons": [true]}`, want: ErrMalformed},
		"conflicting rules":    {policy: "grant := {\"scopes\": [\"a\"]} if true\ngrant := {\"scopes\": []} if true", want: ErrEvaluation, reason: "policy evaluation failed"},
		"strict builtin error": {policy: `grant := {"scopes": [to_number(input.method)]}`, want: ErrEvaluation},
		"timeout": {
			policy:  `grant := {"scopes": [x | some x in numbers.range(1, 10000000); x < 0]}`,
			timeout: 20 * time.Millisecond, want: ErrTimeout, reason: "policy evaluation timed out",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log, logs := testLogger(t)
			e := newEngine(t, authzModule(tc.policy), Options{Timeout: tc.timeout, Logger: log})
			in := grantInput()
			if name == "nil input" {
				in = nil
			}
			got := e.Grant(context.Background(), in)
			if got.Scopes != nil || !errors.Is(got.Err, tc.want) {
				t.Errorf("Grant = %+v, want nil scopes and %v", got, tc.want)
			}
			if len(got.Reasons) != 1 || (tc.reason != "" && got.Reasons[0] != tc.reason) {
				t.Errorf("reasons %q, want the failure %q", got.Reasons, tc.reason)
			}
			if got.ID == "" {
				t.Error("ID is empty")
			}
			if !strings.Contains(logs.String(), "decision failed closed") {
				t.Errorf("failure not logged; log:\n%s", logs)
			}
		})
	}
}

func TestGrantCanceled(t *testing.T) {
	t.Parallel()
	e := newEngine(t, map[string]string{"p.rego": grantPolicy}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := e.Grant(ctx, grantInput()); got.Scopes != nil || !errors.Is(got.Err, ErrCanceled) {
		t.Errorf("Grant = %+v, want canceled", got)
	}
}

// Every grant is a decision-log line: phase grant, the client as target,
// the requested scopes in the input and the granted ones beside it.
func TestGrantDecisionLogLine(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		policy  string
		granted []any
		allow   bool
		reasons []any
		err     bool
	}{
		"granted":         {grantPolicy, []any{"notes:write"}, true, []any{"asked"}, false},
		"nothing granted": {strings.Replace(grantPolicy, "c.name == s", "c.name == \"none\"", 1), []any{}, false, []any{"asked"}, false},
		"failed":          {"package mcpgate.authz\ngrant := 1", []any{}, false, []any{"policy decision malformed: not an object"}, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out testtools.SyncBuffer
			dl := NewDecisionLog(&out, 16)
			e := newEngine(t, map[string]string{"p.rego": tc.policy}, Options{DecisionLog: dl})
			ctx := WithTraceID(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736")
			g := e.Grant(ctx, grantInput())
			if err := dl.Close(); err != nil {
				t.Fatal(err)
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &line); err != nil {
				t.Fatalf("one JSON line: %v\n%s", err, out.String())
			}
			want := map[string]any{
				"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "session_id": "", "user_sub": "alice",
				"phase": "grant", "method": "oauth/authorize", "target": "c-123", "server": "",
				"allow": tc.allow, "reasons": tc.reasons, "granted": tc.granted, "decision_id": g.ID,
			}
			ignore := cmpopts.IgnoreMapEntries(func(k string, _ any) bool {
				switch k {
				case "time", "policy_revision", "eval_ns", "input", "error":
					return true
				}
				return false
			})
			if diff := cmp.Diff(want, line, ignore); diff != "" {
				t.Errorf("line (-want +got):\n%s", diff)
			}
			if _, ok := line["error"]; ok != tc.err {
				t.Errorf("error field present = %v, want %v", ok, tc.err)
			}
			in, _ := line["input"].(map[string]any)
			grant, _ := in["grant"].(map[string]any)
			if diff := cmp.Diff([]any{"notes:write", "hr"}, grant["requested"]); diff != "" {
				t.Errorf("logged input's requested scopes (-want +got):\n%s", diff)
			}
		})
	}
}

// Decisions of the other phases have no granted field.
func TestDecisionLogLineHasNoGranted(t *testing.T) {
	t.Parallel()
	line, _ := decide(t, map[string]string{"authz.rego": allowAlice}, callInput("alice"))
	if _, ok := line["granted"]; ok {
		t.Errorf("call-phase line has granted: %v", line)
	}
	reg, _ := decide(t, map[string]string{"authz.rego": allowAlice}, registerInput())
	if reg["target"] != "https://app.example/client.json" || reg["phase"] != "register" {
		t.Errorf("register line names target %v, phase %v", reg["target"], reg["phase"])
	}
}
