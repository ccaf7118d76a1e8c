package policy

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mcpgate/mcpgate/internal/testtools"
)

// decide runs one decision through an engine with a decision log and
// returns the parsed log line and the raw log.
func decide(t *testing.T, modules map[string]string, in *Input) (map[string]any, string) {
	t.Helper()
	var out testtools.SyncBuffer
	dl := NewDecisionLog(&out, 16)
	e := newEngine(t, modules, Options{DecisionLog: dl})
	ctx := WithTraceID(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736")
	d := e.Decide(ctx, in)
	if err := dl.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1:\n%s", len(lines), out.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, lines[0])
	}
	if line["decision_id"] != d.ID || line["policy_revision"] != d.Revision {
		t.Errorf("line ids %v/%v, decision %s/%s", line["decision_id"], line["policy_revision"], d.ID, d.Revision)
	}
	return line, lines[0]
}

func TestDecisionLogLine(t *testing.T) {
	t.Parallel()
	line, raw := decide(t, map[string]string{"authz.rego": allowAlice}, callInput("mallory"))
	want := map[string]any{
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "session_id": "s1", "user_sub": "mallory",
		"phase": "call", "method": "tools/call", "target": "notes__read_note", "server": "notes",
		"allow": false, "reasons": []any{"not alice"},
		"masked": []any{"/input/arguments/id", "/input/arguments/password"},
	}
	ignore := cmpopts.IgnoreMapEntries(func(k string, _ any) bool {
		switch k {
		case "time", "decision_id", "policy_revision", "eval_ns", "input":
			return true
		}
		return false
	})
	if diff := cmp.Diff(want, line, ignore); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
	if ns, _ := line["eval_ns"].(float64); ns <= 0 {
		t.Errorf("eval_ns = %v", line["eval_ns"])
	}
	if !strings.Contains(raw, `"time":"20`) {
		t.Errorf("time not RFC 3339: %s", raw)
	}
	in := line["input"].(map[string]any)
	if diff := cmp.Diff(map[string]any{"id": "[masked]", "password": "[masked]"}, in["arguments"]); diff != "" {
		t.Errorf("default masking (-want +got):\n%s", diff)
	}
	if in["user"].(map[string]any)["sub"] != "mallory" || strings.Contains(raw, "hunter2") {
		t.Errorf("input not logged as expected: %s", raw)
	}
}

func TestDecisionLogMaskRule(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mask       string
		wantArgs   any
		wantErased []any
		wantMasked []any
	}{
		"pointer and upsert": {
			mask: `mask contains "/input/arguments/password"
mask contains {"op": "upsert", "path": "/input/arguments/id", "value": "***"} if input.input.arguments.id
mask contains "/input/arguments/absent"`,
			wantArgs:   map[string]any{"id": "***"},
			wantErased: []any{"/input/arguments/password"},
			wantMasked: []any{"/input/arguments/id"},
		},
		"empty set unmasks": {
			mask:     `mask contains "/input/x" if false`,
			wantArgs: map[string]any{"id": "n1", "password": "hunter2"},
		},
		"undefined falls back to default": {
			mask:       `mask := ["/input/arguments"] if input.input.user.sub == "nobody"`,
			wantArgs:   map[string]any{"id": "[masked]", "password": "[masked]"},
			wantMasked: []any{"/input/arguments/id", "/input/arguments/password"},
		},
		"bad pointer falls back to default": {
			mask:       `mask contains "/result/allow"`,
			wantArgs:   map[string]any{"id": "[masked]", "password": "[masked]"},
			wantMasked: []any{"/input/arguments/id", "/input/arguments/password"},
		},
		"whole arguments erased": {
			mask:       `mask contains "/input/arguments"`,
			wantErased: []any{"/input/arguments"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			modules := map[string]string{
				"authz.rego": allowAlice,
				"mask.rego":  "package system.log\n" + tc.mask,
			}
			line, _ := decide(t, modules, callInput("alice"))
			got := map[string]any{"args": line["input"].(map[string]any)["arguments"], "erased": line["erased"], "masked": line["masked"]}
			want := map[string]any{"args": tc.wantArgs, "erased": orNil(tc.wantErased), "masked": orNil(tc.wantMasked)}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("masking (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecisionLogFailureLogged(t *testing.T) {
	t.Parallel()
	line, _ := decide(t, nil, callInput("alice"))
	if line["allow"] != false || line["error"] != "no policy loaded" || line["policy_revision"] != "" {
		t.Errorf("line = %v", line)
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	lines   int
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines += strings.Count(string(p), "\n")
	return len(p), nil
}

func TestDecisionLogDropsAreCounted(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{release: make(chan struct{})}
	dl := NewDecisionLog(w, 1)
	log, logs := testLogger(t)
	e := newEngine(t, map[string]string{"authz.rego": allowAlice}, Options{DecisionLog: dl, Logger: log})
	const n = 50
	for range n {
		e.Decide(context.Background(), callInput("alice"))
	}
	if dl.Dropped() == 0 {
		t.Fatal("Dropped() = 0 with a blocked writer and a queue of 1")
	}
	close(w.release)
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := uint64(w.lines) + dl.Dropped(); got != n {
		t.Errorf("written %d + dropped %d = %d, want %d", w.lines, dl.Dropped(), got, n)
	}
	var warned bool
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		warned = warned || strings.Contains(sc.Text(), `"dropped_total"`)
	}
	if !warned {
		t.Errorf("no warning about drops; log:\n%s", logs)
	}
	e.Decide(context.Background(), callInput("alice")) // after Close: counted, no panic
	if got := uint64(w.lines) + dl.Dropped(); got != n+1 {
		t.Errorf("decision after Close not counted: %d", got)
	}
}

// orNil turns a nil slice into an untyped nil, as JSON decoding leaves it.
func orNil(x []any) any {
	if x == nil {
		return nil
	}
	return x
}
