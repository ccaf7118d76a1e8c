package policy

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestEvaluationErrorsDoNotLeakInput: a built-in error quoting an input
// value is described by code and location only, in the decision log and at
// warning level in the server log; the detail is only logged at debug.
func TestEvaluationErrorsDoNotLeakInput(t *testing.T) {
	t.Parallel()
	var decisions, server bytes.Buffer
	dl := NewDecisionLog(&decisions, 10)
	e := NewEngine(Options{DecisionLog: dl, Logger: slog.New(slog.NewJSONHandler(&server, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	src := `package mcpgate.authz

decision := {"allow": to_number(input.arguments.pin) > 0, "reasons": [], "required_scopes": []}
`
	if err := e.LoadModules(map[string]string{"p.rego": src}, nil); err != nil {
		t.Fatal(err)
	}
	in := &Input{Phase: PhaseCall, Method: "tools/call", Arguments: map[string]any{"pin": "secret-4711"}}
	if d := e.Decide(context.Background(), in); d.Allow {
		t.Fatal("a failing policy allowed")
	}
	dl.Close()
	for name, out := range map[string]string{"decision log": decisions.String(), "server log": server.String()} {
		if strings.Contains(out, "4711") {
			t.Errorf("%s quotes the input value:\n%s", name, out)
		}
		if !strings.Contains(out, "p.rego:") {
			t.Errorf("%s does not say where the policy failed:\n%s", name, out)
		}
	}
}
