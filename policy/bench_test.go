package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// benchData has 1,000 groups, each granting a few tools on a few servers.
func benchData() map[string]any {
	groups := make(map[string]any, 1000)
	for i := range 1000 {
		servers := map[string]any{}
		for s := range 3 {
			tools := map[string]any{}
			for k := range 10 {
				tools[fmt.Sprintf("tool_%d", (i+k)%200)] = true
			}
			servers[fmt.Sprintf("server_%d", (i+s)%20)] = map[string]any{"tools": tools, "destructive": i%7 == 0}
		}
		groups[fmt.Sprintf("group-%04d", i)] = map[string]any{"servers": servers}
	}
	groups["engineering"] = map[string]any{"servers": map[string]any{
		"notes": map[string]any{"tools": map[string]any{"list_notes": true, "read_note": true, "write_note": true}},
	}}
	return map[string]any{"groups": groups}
}

func benchEngine(tb testing.TB, dl *DecisionLog) *Engine {
	tb.Helper()
	src, err := os.ReadFile("testdata/bench/authz.rego")
	if err != nil {
		tb.Fatal(err)
	}
	e := NewEngine(Options{DecisionLog: dl, Logger: slog.New(slog.DiscardHandler)})
	if err := e.LoadModules(map[string]string{"authz.rego": string(src)}, benchData()); err != nil {
		tb.Fatal(err)
	}
	return e
}

func benchCall() *Input {
	in := fullInput()
	in.User.Groups = []string{"group-0001", "group-0500", "group-0999", "engineering"}
	in.Token.Scopes = []string{"mcp", "mcp:write"}
	in.Prompt, in.Resource = nil, nil
	in.Tool.Annotations = &Annotations{ReadOnlyHint: ptr(false), DestructiveHint: ptr(false)}
	in.Tool.UpstreamName, in.Tool.Server = "write_note", "notes"
	in.Arguments = map[string]any{"path": "/notes/2026/plan.md", "body": "text"}
	return in
}

func TestBenchFixture(t *testing.T) {
	t.Parallel()
	e := benchEngine(t, nil)
	ctx := context.Background()
	if d := e.Decide(ctx, benchCall()); !d.Allow {
		t.Errorf("bench call: %+v, want allow", d)
	}
	tests := map[string]func(*Input){
		"ungranted tool":       func(in *Input) { in.Tool.UpstreamName = "delete_note" },
		"destructive":          func(in *Input) { in.Tool.Annotations.DestructiveHint = ptr(true) },
		"no write scope":       func(in *Input) { in.Token.Scopes = []string{"mcp"} },
		"path outside prefix":  func(in *Input) { in.Arguments["path"] = "/etc/passwd" },
		"path missing":         func(in *Input) { delete(in.Arguments, "path") },
		"group of another org": func(in *Input) { in.User.Groups = []string{"group-0002"} },
	}
	for name, mutate := range tests {
		in := benchCall()
		mutate(in)
		if d := e.Decide(ctx, in); d.Allow {
			t.Errorf("%s: %+v, want deny", name, d)
		}
	}
}

func BenchmarkDecideCall(b *testing.B) {
	e := benchEngine(b, nil)
	in, ctx := benchCall(), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Decide(ctx, in); !d.Allow {
			b.Fatalf("denied: %v", d.Reasons)
		}
	}
}

func BenchmarkDecideCallLogged(b *testing.B) {
	dl := NewDecisionLog(io.Discard, 1<<16)
	defer dl.Close()
	e := benchEngine(b, dl)
	in, ctx := benchCall(), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(ctx, in)
	}
}

func BenchmarkDecideCallParallel(b *testing.B) {
	e := benchEngine(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		in := benchCall()
		for pb.Next() {
			e.Decide(ctx, in)
		}
	})
}

// BenchmarkDecideFloor is the engine's fixed cost: a one-rule policy.
func BenchmarkDecideFloor(b *testing.B) {
	e := NewEngine(Options{Logger: slog.New(slog.DiscardHandler)})
	if err := e.LoadModules(map[string]string{"p.rego": "package mcpgate.authz\ndecision := {\"allow\": true}"}, nil); err != nil {
		b.Fatal(err)
	}
	in, ctx := benchCall(), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(ctx, in)
	}
}

// BenchmarkDecideList200 decides the list phase for 200 tools: one op is a
// whole tools/list view.
func BenchmarkDecideList200(b *testing.B) {
	e := benchEngine(b, nil)
	ctx := context.Background()
	inputs := make([]*Input, 200)
	for i := range inputs {
		in := benchCall()
		in.Phase, in.Method, in.Arguments = PhaseList, "tools/list", nil
		in.Tool = &Tool{Name: fmt.Sprintf("server_1__tool_%d", i), UpstreamName: fmt.Sprintf("tool_%d", i), Server: "server_1",
			Annotations: &Annotations{ReadOnlyHint: ptr(i%2 == 0)}}
		inputs[i] = in
	}
	b.ReportAllocs()
	for b.Loop() {
		allowed := 0
		for _, in := range inputs {
			if e.Decide(ctx, in).Allow {
				allowed++
			}
		}
		if allowed == 0 {
			b.Fatal("no tool visible")
		}
	}
}

// BenchmarkInputToAST compares ways of turning the input into an ast.Value.
func BenchmarkInputToAST(b *testing.B) {
	in := benchCall()
	raw, err := json.Marshal(in)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := in.ASTValue(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("InterfaceToValue(map)", func(b *testing.B) {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ast.InterfaceToValue(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal+ValueFromReader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bs, _ := json.Marshal(in)
			if _, err := ast.ValueFromReader(bytes.NewReader(bs)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
