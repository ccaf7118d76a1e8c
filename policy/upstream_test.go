package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpgate/mcpgate/internal/testtools"
)

// upstreamInput is an upstream-phase input: a credential for a call to
// notes__read_note, with the server's upstream scope catalogue.
func upstreamInput() *Input {
	return &Input{Phase: PhaseUpstream, Method: MethodUpstreamToken,
		User:   User{Sub: "alice", Iss: "https://idp.test", Groups: []string{"engineering"}},
		Client: &Client{Name: "claude-code", Version: "1.0"},
		Server: &Server{Name: "notes", Labels: map[string]string{"env": "prod"}},
		Tool: &Tool{Name: "notes__read_note", UpstreamName: "read_note", Server: "notes",
			Annotations: &Annotations{ReadOnlyHint: ptr(true)}},
		UpstreamScopes: []UpstreamScope{
			{Name: "notes.read", Description: "Read notes", Level: "read"},
			{Name: "notes.write", Level: "write"},
		},
		Request: Request{SessionID: "s1", Time: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
	}
}

// upstreamPolicy grants the catalogue scopes of the tool's needed level,
// and is the only scope document: the grant is undefined.
const upstreamPolicy = `package mcpgate.authz

decision := {"allow": false}

upstream_scopes := {"scopes": {s.name | some s in input.upstream_scopes; s.level == "read"}, "reasons": ["read-only tool"]}
`

func TestUpstreamScopes(t *testing.T) {
	t.Parallel()
	checkScopeDocument(t, (*Engine).UpstreamScopes, upstreamInput(), map[string]scopeCase{
		"set, sorted":         {`upstream_scopes := {"scopes": {"b", "a"}, "reasons": {"r2", "r1"}}`, GrantDecision{Scopes: []string{"a", "b"}, Reasons: []string{"r1", "r2"}}},
		"nothing granted":     {`upstream_scopes := {"scopes": [], "reasons": ["no"]}`, GrantDecision{Scopes: []string{}, Reasons: []string{"no"}}},
		"more than catalogue": {`upstream_scopes := {"scopes": ["admin"]}`, GrantDecision{Scopes: []string{"admin"}}},
		"reads the upstream input": {`upstream_scopes := {"scopes": [input.method, input.server.name, input.tool.upstream_name, input.upstream_scopes[1].level, input.user.sub]}`,
			GrantDecision{Scopes: []string{"upstream/token", "notes", "read_note", "write", "alice"}}},
		"not the grant": {`grant := {"scopes": ["g"]}
upstream_scopes := {"scopes": ["u"]}`, GrantDecision{Scopes: []string{"u"}}},
	})
}

func TestUpstreamScopesQueryOption(t *testing.T) {
	t.Parallel()
	mods := authzModule(`upstream_scopes := {"scopes": ["default"]}
custom := {"scopes": ["custom"]}`)
	e := newEngine(t, mods, Options{UpstreamScopesQuery: "data.mcpgate.authz.custom"})
	if got := e.UpstreamScopes(context.Background(), upstreamInput()); !cmp.Equal(got.Scopes, []string{"custom"}) {
		t.Errorf("scopes %v, want the custom query's", got.Scopes)
	}
}

func TestUpstreamScopesFailClosed(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		policy string // module body after the package line; "" = nothing loaded
		input  *Input
		want   error
	}{
		"no policy loaded":      {input: upstreamInput(), want: ErrNoPolicy},
		"nil input":             {policy: `upstream_scopes := {"scopes": ["a"]}`, want: ErrNoInput},
		"no rule, a grant only": {policy: `grant := {"scopes": ["a"]}`, input: upstreamInput(), want: ErrUndefined},
		"scopes missing":        {policy: `upstream_scopes := {"reasons": ["a"]}`, input: upstreamInput(), want: ErrMalformed},
		"scopes not strings":    {policy: `upstream_scopes := {"scopes": [1]}`, input: upstreamInput(), want: ErrMalformed},
		"strict builtin error":  {policy: `upstream_scopes := {"scopes": [to_number(input.method)]}`, input: upstreamInput(), want: ErrEvaluation},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log, logs := testLogger(t)
			e := newEngine(t, authzModule(tc.policy), Options{Logger: log})
			got := e.UpstreamScopes(context.Background(), tc.input)
			if got.Scopes != nil || !errors.Is(got.Err, tc.want) || len(got.Reasons) != 1 || got.ID == "" {
				t.Errorf("UpstreamScopes = %+v, want nil scopes, one reason, an id and %v", got, tc.want)
			}
			if !strings.Contains(logs.String(), "decision failed closed") {
				t.Errorf("failure not logged; log:\n%s", logs)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := newEngine(t, map[string]string{"p.rego": upstreamPolicy}, Options{})
	if got := e.UpstreamScopes(ctx, upstreamInput()); got.Scopes != nil || !errors.Is(got.Err, ErrCanceled) {
		t.Errorf("UpstreamScopes = %+v, want canceled", got)
	}
}

// Every upstream-scopes decision is a decision-log line: phase upstream,
// the tool as target, the granted scopes beside the input; the mask rule
// sees the upstream_scopes path.
func TestUpstreamScopesDecisionLogLine(t *testing.T) {
	t.Parallel()
	var out testtools.SyncBuffer
	dl := NewDecisionLog(&out, 16)
	mask := `package system.log

mask contains "/input/client" if input.path == "mcpgate/authz/upstream_scopes"
`
	e := newEngine(t, map[string]string{"p.rego": upstreamPolicy, "mask.rego": mask}, Options{DecisionLog: dl})
	g := e.UpstreamScopes(context.Background(), upstreamInput())
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &line); err != nil {
		t.Fatalf("one JSON line: %v\n%s", err, out.String())
	}
	want := map[string]any{
		"decision_id": g.ID, "phase": "upstream", "method": "upstream/token", "target": "notes__read_note", "server": "notes",
		"user_sub": "alice", "session_id": "s1", "allow": true, "reasons": []any{"read-only tool"}, "granted": []any{"notes.read"},
		"erased": []any{"/input/client"},
	}
	got := map[string]any{}
	for k := range want {
		got[k] = line[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
	in, _ := line["input"].(map[string]any)
	if diff := cmp.Diff([]any{map[string]any{"name": "notes.read", "description": "Read notes", "level": "read"},
		map[string]any{"name": "notes.write", "level": "write"}}, in["upstream_scopes"]); diff != "" {
		t.Errorf("logged upstream_scopes (-want +got):\n%s", diff)
	}
}

func TestQueryFor(t *testing.T) {
	t.Parallel()
	for phase, want := range map[string]string{
		PhaseCall: DefaultQuery, PhaseList: DefaultQuery, PhaseInitialize: DefaultQuery, PhaseRegister: DefaultQuery,
		PhaseGrant: DefaultGrantQuery, PhaseUpstream: DefaultUpstreamScopesQuery, "": DefaultQuery,
	} {
		if got := QueryFor(phase); got != want {
			t.Errorf("QueryFor(%q) = %q, want %q", phase, got, want)
		}
	}
}
