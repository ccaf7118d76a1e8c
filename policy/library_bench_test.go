package policy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/rego"
)

// libraryEngine loads the shipped library (rego/) with its demo data plus
// 1,000 more groups, each granting tools on a few of 20 servers.
func libraryEngine(tb testing.TB) *Engine { return libraryEngineN(tb, 1000) }

func libraryEngineN(tb testing.TB, n int) *Engine {
	tb.Helper()
	modules, data, err := rego.Library()
	if err != nil {
		tb.Fatal(err)
	}
	groups := data["mcpgate"].(map[string]any)["config"].(map[string]any)["groups"].(map[string]any)
	for i := range n {
		servers := map[string]any{}
		for s := range 3 {
			tools := map[string]any{}
			for k := range 10 {
				tools[fmt.Sprintf("tool_%d", (i+k)%200)] = []string{"read", "write", "all"}[k%3]
			}
			servers[fmt.Sprintf("server_%d", (i+s)%20)] = map[string]any{"tools": tools}
		}
		groups[fmt.Sprintf("group-%04d", i)] = map[string]any{"servers": servers}
	}
	e := NewEngine(Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute, Library: modules}) // no flakes on a busy machine
	if err := e.LoadModules(modules, data); err != nil {
		tb.Fatal(err)
	}
	return e
}

func libraryInput(phase, server, tool string) *Input {
	ro := tool == "read_note" || tool == "list_notes"
	in := &Input{
		Phase:  phase,
		Method: "tools/call",
		User:   User{Sub: "alice", Iss: "https://idp.example", Groups: []string{"group-0001", "group-0500", "group-0999", "engineering"}, Claims: map[string]any{}},
		Token:  Token{Scopes: []string{"mcp"}, Aud: []string{"https://mcp.example.com/mcp"}},
		Server: &Server{Name: server, Labels: map[string]string{"env": "prod"}},
		Tool: &Tool{Name: server + "__" + tool, UpstreamName: tool, Server: server,
			Annotations: &Annotations{ReadOnlyHint: &ro, DestructiveHint: new(bool)}},
		Request: Request{Time: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)},
	}
	if phase == PhaseCall {
		in.Arguments = map[string]any{"id": "plan-2026", "body": "text"}
	} else {
		in.Method = "tools/list"
	}
	return in
}

// BenchmarkLibraryCall is one call decision of the shipped library with a
// data document of 1,000 groups (allowed: engineering may write notes).
func BenchmarkLibraryCall(b *testing.B) {
	e := libraryEngine(b)
	in := libraryInput(PhaseCall, "notes", "write_note")
	if d := e.Decide(context.Background(), in); !d.Allow {
		b.Fatalf("fixture call denied: %v", d.Reasons)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(context.Background(), in)
	}
}

// BenchmarkLibraryCallCatalogue is BenchmarkLibraryCall with the scope
// catalogue's entries for the server, which the token satisfies.
func BenchmarkLibraryCallCatalogue(b *testing.B) {
	e := libraryEngine(b)
	in := libraryInput(PhaseCall, "notes", "write_note")
	in.Catalogue = []Scope{{Name: "notes:read", Server: "notes", Level: "read"}, {Name: "notes:write", Server: "notes", Level: "write"}}
	in.Token.Scopes = []string{"notes:write"}
	if d := e.Decide(context.Background(), in); !d.Allow {
		b.Fatalf("fixture call denied: %v", d.Reasons)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(context.Background(), in)
	}
}

// BenchmarkLibraryList200 is the list phase of one caller for a catalog of
// 200 tools on 20 servers: what a new caller's view costs once per policy
// and catalog revision (then it is cached).
func BenchmarkLibraryList200(b *testing.B) {
	e := libraryEngine(b)
	ins := make([]*Input, 200)
	for i := range ins {
		ins[i] = libraryInput(PhaseList, fmt.Sprintf("server_%d", i%20), fmt.Sprintf("tool_%d", i))
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, in := range ins {
			e.Decide(context.Background(), in)
		}
	}
}

func BenchmarkLibraryCallSmallData(b *testing.B) {
	e := libraryEngineN(b, 0)
	in := libraryInput(PhaseCall, "notes", "write_note")
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(context.Background(), in)
	}
}

// BenchmarkLibraryCallCached is BenchmarkLibraryCall served from the
// decision cache (DecideCached; read_note has no argument rules), with the
// decision log on: what a repeated call of one identity costs.
func BenchmarkLibraryCallCached(b *testing.B) {
	dl := NewDecisionLog(io.Discard, 1<<16)
	defer dl.Close()
	e := libraryEngine(b)
	e.dlog.Store(dl)
	in := libraryInput(PhaseCall, "notes", "read_note")
	key := CacheKey{Identity: "alice-token-fingerprint", Target: "catalog-7/notes__read_note"}
	ctx := context.Background()
	e.DecideCached(ctx, key, in)
	e.current.Load().learned.Wait()
	if hit, ok := e.current.Load().cache.get(cacheKey{key.Identity, key.Target, in.Phase, in.Method}); !ok || hit == nil || !hit.Allow {
		b.Fatalf("fixture call not cached as an allow: %v", hit)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.DecideCached(ctx, key, in)
	}
}

// BenchmarkLibraryDecideList200 is BenchmarkLibraryList200 as one
// evaluation over the catalog (DecideList, data.mcpgate.authz.visible).
// Each iteration's caller has a group nobody had, so the list is
// evaluated, not served from the lists the engine keeps per list key
// (BenchmarkLibraryDecideList200Kept).
func BenchmarkLibraryDecideList200(b *testing.B) { benchmarkLibraryDecideList200(b, true) }

func BenchmarkLibraryDecideList200Kept(b *testing.B) { benchmarkLibraryDecideList200(b, false) }

// BenchmarkLibraryDecideList200Described is BenchmarkLibraryDecideList200
// with a description of every tool (about 200 characters, one URL of a
// documentation host), which the shipped data's description rule checks
// (rego/descriptions.rego).
func BenchmarkLibraryDecideList200Described(b *testing.B) {
	benchmarkLibraryDecideList200(b, true, "Returns the rows of the table that match the query, at most limit of them, "+
		"sorted by their id. The query is a filter expression such as status = open; see https://docs.example/query for its syntax.")
}

func benchmarkLibraryDecideList200(b *testing.B, newGroups bool, description ...string) {
	e := libraryEngine(b)
	in := libraryInput(PhaseList, "notes", "x")
	groups := in.User.Groups
	entries := make([]ListEntry, 200)
	for i := range entries {
		one := libraryInput(PhaseList, fmt.Sprintf("server_%d", i%20), fmt.Sprintf("tool_%d", i))
		for _, d := range description {
			one.Tool.Description = fmt.Sprintf("%s (%d)", d, i)
		}
		entries[i] = ListEntry{Server: one.Server, Tool: one.Tool}
	}
	ctx, cat := context.Background(), NewListCatalog(entries) // prepared once, as the gateway does per catalog
	if visible := e.DecideList(ctx, in, cat); !slices.Contains(visible, true) || slices.Index(visible, false) < 0 {
		b.Fatalf("visible %v: want some entries shown and some hidden", visible)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if newGroups {
			n++
			in.User.Groups = append(slices.Clip(groups), fmt.Sprintf("team-%d", n))
		}
		e.DecideList(ctx, in, cat)
	}
}

// BenchmarkLibraryCallResidual is BenchmarkLibraryCall for a call whose
// decision reads its arguments (write_note has argument constraints), so
// it cannot be cached: DecideCached evaluates the residual learned for
// its identity and target. As BenchmarkLibraryCall, without a decision
// log.
func BenchmarkLibraryCallResidual(b *testing.B) {
	e := libraryEngine(b)
	in := libraryInput(PhaseCall, "notes", "write_note")
	key := CacheKey{Identity: "alice-token-fingerprint", Target: "catalog-7/notes__write_note"}
	ctx := context.Background()
	e.DecideCached(ctx, key, in)
	e.current.Load().learned.Wait()
	if _, res, _ := e.current.Load().cache.lookup(cacheKey{key.Identity, key.Target, in.Phase, in.Method}); res == nil {
		b.Fatal("no residual learned for the fixture call")
	}
	if d := e.DecideCached(ctx, key, in); !d.Allow {
		b.Fatalf("fixture call denied: %v", d.Reasons)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.DecideCached(ctx, key, in)
	}
}
