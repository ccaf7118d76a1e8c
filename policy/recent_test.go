package policy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRecentRing(t *testing.T) {
	t.Parallel()
	r := NewRecent(3)
	if got, total := r.Snapshot(); len(got) != 0 || total != 0 {
		t.Fatalf("empty ring = %v, %d", got, total)
	}
	for i := range 5 {
		r.add(RecentDecision{DecisionID: fmt.Sprint(i)})
		got, total := r.Snapshot()
		want := min(i+1, 3)
		if len(got) != want || total != uint64(i+1) {
			t.Fatalf("after %d adds: %d kept, total %d", i+1, len(got), total)
		}
		for j, d := range got {
			if d.DecisionID != fmt.Sprint(i-j) {
				t.Fatalf("after %d adds: [%d] = %s, want newest first", i+1, j, d.DecisionID)
			}
		}
	}
}

func TestRecentKeepsDecisionsOfRecord(t *testing.T) {
	t.Parallel()
	recent := NewRecent(10)
	e := NewEngine(Options{Recent: recent})
	if err := e.LoadModules(authzModule(`decision := {"allow": input.user.sub == "bob", "reasons": ["because"]}`), nil); err != nil {
		t.Fatal(err)
	}
	ctx := WithTraceID(context.Background(), "0af7651916cd43dd8448eb211c80319c")
	in := &Input{Phase: PhaseCall, Method: "tools/call", User: User{Sub: "bob"}, Server: &Server{Name: "notes"},
		Tool: &Tool{Name: "notes_read", Server: "notes"}, Arguments: map[string]any{"secret": "s3cr3t"}}
	d := e.Decide(ctx, in)
	e.Check(ctx, &Input{Phase: PhaseCall, Method: "tools/call", User: User{Sub: "mallory"}})
	in.User.Sub = "mallory"
	denied := e.Decide(context.Background(), in)
	got, total := recent.Snapshot()
	if total != 2 || len(got) != 2 {
		t.Fatalf("kept %d of %d, want the two decisions of record, not the Check", len(got), total)
	}
	if g := got[1]; g.DecisionID != d.ID || !g.Allow || g.UserSub != "bob" || g.Phase != PhaseCall || g.Method != "tools/call" ||
		g.Target != "notes_read" || g.Server != "notes" || g.TraceID != "0af7651916cd43dd8448eb211c80319c" ||
		g.Revision != d.Revision || len(g.Reasons) != 1 || g.Time.IsZero() {
		t.Errorf("allowed decision kept as %+v", g)
	}
	if g := got[0]; g.DecisionID != denied.ID || g.Allow || g.UserSub != "mallory" || g.TraceID != "" {
		t.Errorf("denied decision kept as %+v", g)
	}
	if strings.Contains(fmt.Sprintf("%+v", got), "s3cr3t") {
		t.Error("Recent keeps the arguments")
	}
}

// BenchmarkDecideFloorRecent is BenchmarkDecideFloor with the console's
// ring of recent decisions: what keeping a decision costs (compare the
// two with benchstat).
func BenchmarkDecideFloorRecent(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		for _, ring := range []bool{false, true} {
			b.Run(fmt.Sprintf("parallel=%v/recent=%v", parallel, ring), func(b *testing.B) {
				opts := Options{Logger: slog.New(slog.DiscardHandler)}
				if ring {
					opts.Recent = NewRecent(2000)
				}
				e := NewEngine(opts)
				if err := e.LoadModules(map[string]string{"p.rego": "package mcpgate.authz\ndecision := {\"allow\": true}"}, nil); err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.ReportAllocs()
				if !parallel {
					in := benchCall()
					for b.Loop() {
						e.Decide(ctx, in)
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					in := benchCall()
					for pb.Next() {
						e.Decide(ctx, in)
					}
				})
			})
		}
	}
}

func TestRecentBoundsWhatItKeeps(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 300) // two bytes a rune
	var reasons []string
	for range 40 {
		reasons = append(reasons, long)
	}
	d := recentOf(&record{target: long, userSub: long, reasons: reasons, granted: []string{"a"}})
	if len(d.Reasons) != recentMaxReasons+1 || d.Reasons[recentMaxReasons] != "…[truncated: 36 more]" {
		t.Errorf("kept %d reasons, the last %q", len(d.Reasons), d.Reasons[len(d.Reasons)-1])
	}
	for _, s := range append([]string{d.Target, d.UserSub}, d.Reasons[:recentMaxReasons]...) {
		if kept, _, ok := strings.Cut(s, "…[truncated: "); !ok || len(kept) > recentMaxString || !utf8.ValidString(kept) {
			t.Errorf("kept %d bytes (valid UTF-8: %v)", len(s), utf8.ValidString(s))
		}
	}
	if d := recentOf(&record{reasons: []string{"short"}}); len(d.Reasons) != 1 || d.Reasons[0] != "short" {
		t.Errorf("short reasons kept as %q", d.Reasons)
	}
}

// TestCheckList: the list query's look ahead answers what DecideList
// answers, and records nothing; DecideList records one line.
func TestCheckList(t *testing.T) {
	t.Parallel()
	recent := NewRecent(10)
	e := NewEngine(Options{Recent: recent})
	if err := e.LoadModules(authzModule("visible := {1}\ndecision := {\"allow\": true, \"reasons\": []}"), nil); err != nil {
		t.Fatal(err)
	}
	cat := NewListCatalog([]ListEntry{{Tool: &Tool{Name: "a"}}, {Tool: &Tool{Name: "b"}}})
	in := &Input{Phase: PhaseList, User: User{Sub: "bob"}}
	checked := e.CheckList(t.Context(), in, cat)
	if _, n := recent.Snapshot(); n != 0 || len(checked) != 2 || checked[0] || !checked[1] {
		t.Fatalf("CheckList = %v, %d recorded; want [false true], none", checked, n)
	}
	decided := e.DecideList(t.Context(), in, cat)
	if _, n := recent.Snapshot(); n != 1 || !slices.Equal(decided, checked) {
		t.Errorf("DecideList = %v, %d recorded; want %v, one", decided, n, checked)
	}
}
