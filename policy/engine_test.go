package policy

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mcpgate/mcpgate/internal/testtools"
)

const allowAlice = `package mcpgate.authz

default decision := {"allow": false, "reasons": {"not alice"}}

decision := {"allow": true, "reasons": set()} if input.user.sub == "alice"
`

func testLogger(t testing.TB) (*slog.Logger, *testtools.SyncBuffer) {
	t.Helper()
	var buf testtools.SyncBuffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// authzModule is a policy of one module of package mcpgate.authz with
// body, or none when body is empty.
func authzModule(body string) map[string]string {
	if body == "" {
		return nil
	}
	return map[string]string{"p.rego": "package mcpgate.authz\n" + body}
}

func newEngine(t testing.TB, modules map[string]string, opts Options) *Engine {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger, _ = testLogger(t)
	}
	e := NewEngine(opts)
	if modules != nil {
		if err := e.LoadModules(modules, nil); err != nil {
			t.Fatalf("LoadModules: %v", err)
		}
	}
	return e
}

func callInput(sub string) *Input {
	return &Input{
		Phase:  PhaseCall,
		Method: "tools/call",
		User:   User{Sub: sub, Iss: "https://issuer.test", Groups: []string{"engineering"}},
		Token:  Token{Scopes: []string{"mcp"}, Aud: []string{"https://gw.test/mcp"}},
		Server: &Server{Name: "notes"},
		Tool:   &Tool{Name: "notes__read_note", UpstreamName: "read_note", Server: "notes"},
		Arguments: map[string]any{
			"id": "n1", "password": "hunter2",
		},
		Request: Request{SessionID: "s1", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
	}
}

var ignoreID = cmpopts.IgnoreFields(Decision{}, "ID")

func TestDecideAllowDeny(t *testing.T) {
	t.Parallel()
	e := newEngine(t, map[string]string{"authz.rego": allowAlice}, Options{})
	rev := e.Revision()
	tests := map[string]struct {
		sub  string
		want Decision
	}{
		"alice allowed":  {"alice", Decision{Allow: true, Reasons: nil, Revision: rev}},
		"mallory denied": {"mallory", Decision{Reasons: []string{"not alice"}, Revision: rev}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := e.Decide(context.Background(), callInput(tc.sub))
			if diff := cmp.Diff(tc.want, got, ignoreID, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
			if len(got.ID) != 32 {
				t.Errorf("ID = %q, want 32 hex digits", got.ID)
			}
		})
	}
}

func TestDecideRequiredScopesAndReasonsOrder(t *testing.T) {
	t.Parallel()
	e := newEngine(t, map[string]string{"authz.rego": `package mcpgate.authz
decision := {"allow": false, "reasons": {"b", "a"}, "required_scopes": ["notes:write"]}
`}, Options{})
	got := e.Decide(context.Background(), callInput("alice"))
	want := Decision{Reasons: []string{"a", "b"}, RequiredScopes: []string{"notes:write"}, Revision: e.Revision()}
	if diff := cmp.Diff(want, got, ignoreID); diff != "" {
		t.Errorf("Decide (-want +got):\n%s", diff)
	}
}

func TestDecideFailsClosed(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		policy  string // module body after the package line; "" = nothing loaded
		timeout time.Duration
		ctx     func() context.Context
		input   *Input
		want    string
	}{
		"no policy loaded":       {want: "no policy loaded"},
		"nil input":              {policy: `decision := {"allow": true}`, want: "no policy input"},
		"division by zero":       {policy: `decision := {"allow": 1 / (count(input.user.sub) - 5) > 0}`, want: "policy evaluation failed"},
		"strict builtin error":   {policy: `decision := {"allow": to_number(input.method) > 0}`, want: "policy evaluation failed"},
		"conflicting rules":      {policy: "decision := {\"allow\": true} if true\ndecision := {\"allow\": false} if true", want: "policy evaluation failed"},
		"undefined decision":     {policy: `decision := {"allow": true} if input.user.sub == "nobody"`, want: "policy decision undefined"},
		"decision not an object": {policy: `decision := true`, want: "policy decision malformed: not an object"},
		"allow missing":          {policy: `decision := {"reasons": []}`, want: "policy decision malformed: allow must be a boolean"},
		"allow not a bool":       {policy: `decision := {"allow": "true"}`, want: "policy decision malformed: allow must be a boolean"},
		"reasons not strings":    {policy: `decision := {"allow": true, "reasons": [1]}`, want: `policy decision malformed: "reasons" must contain strings only`},
		"reasons a string":       {policy: `decision := {"allow": true, "reasons": "ok"}`, want: `policy decision malformed: "reasons" must be a set or array of strings`},
		"scopes not strings":     {policy: `decision := {"allow": true, "required_scopes": {true}}`, want: `policy decision malformed: "required_scopes" must contain strings only`},
		"timeout": {
			policy:  `decision := {"allow": count([x | some x in numbers.range(1, 10000000)]) > 0}`,
			timeout: 20 * time.Millisecond, want: "policy evaluation timed out",
		},
		"caller canceled": {
			policy: `decision := {"allow": true}`,
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			want: "policy evaluation canceled",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log, logs := testLogger(t)
			e := newEngine(t, authzModule(tc.policy), Options{Timeout: tc.timeout, Logger: log})
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			in := callInput("alice")
			if name == "nil input" {
				in = nil
			}
			start := time.Now()
			got := e.Decide(ctx, in)
			want := Decision{Reasons: []string{tc.want}, Revision: e.Revision()}
			if diff := cmp.Diff(want, got, ignoreID); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
			if got.ID == "" {
				t.Error("ID is empty")
			}
			if !strings.Contains(logs.String(), "decision failed closed") {
				t.Errorf("failure not logged; log:\n%s", logs)
			}
			if tc.timeout > 0 && time.Since(start) > time.Second {
				t.Errorf("timed out decision took %v", time.Since(start))
			}
		})
	}
}

func TestLoadRefusesUnsafeBuiltins(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"http.send":          `decision := {"allow": http.send({"method": "GET", "url": "http://127.0.0.1:1"}).status_code == 200}`,
		"net.lookup_ip_addr": `decision := {"allow": count(net.lookup_ip_addr("example.com")) > 0}`,
		"opa.runtime":        `decision := {"allow": opa.runtime().env.HOME != ""}`,
		"http.send via with": "f(x) := x\ndecision := {\"allow\": f({}) == {}} if true with f as http.send",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, map[string]string{"authz.rego": allowAlice}, Options{})
			rev := e.Revision()
			err := e.LoadModules(map[string]string{"p.rego": "package mcpgate.authz\n" + body}, nil)
			if err == nil || !strings.Contains(err.Error(), "is not allowed") {
				t.Fatalf("LoadModules error = %v, want refusal", err)
			}
			if e.Revision() != rev {
				t.Errorf("revision changed on a refused load")
			}
			if st := e.Status(); st.LastError == "" || !st.Loaded {
				t.Errorf("Status = %+v, want loaded with LastError", st)
			}
		})
	}
}

func TestStatusBeforeLoad(t *testing.T) {
	t.Parallel()
	e := NewEngine(Options{})
	if e.Ready() || e.Revision() != "" {
		t.Errorf("fresh engine: Ready=%v Revision=%q", e.Ready(), e.Revision())
	}
	if diff := cmp.Diff(Status{}, e.Status()); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}
}
