package policy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpgate/mcpgate/internal/testtools"
)

// cachedLines decides each input under key with a fresh decision log and
// returns the decisions and the log's lines.
func cachedLines(t *testing.T, e *Engine, key CacheKey, ins ...*Input) ([]Decision, []map[string]any) {
	t.Helper()
	var buf testtools.SyncBuffer
	dl := NewDecisionLog(&buf, 100)
	e.dlog.Store(dl)
	defer e.dlog.Store(nil)
	var ds []Decision
	for _, in := range ins {
		ds = append(ds, e.DecideCached(context.Background(), key, in))
		e.current.Load().learned.Wait()
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	lines := logLines(t, buf.String())
	if len(lines) != len(ins) {
		t.Fatalf("%d decision-log lines for %d decisions", len(lines), len(ins))
	}
	return ds, lines
}

// logLines parses the lines of a decision log.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	return lines
}

// decideLearned is DecideCached that waits for what the cache learns.
func decideLearned(e *Engine, key CacheKey, in *Input) Decision {
	d := e.DecideCached(context.Background(), key, in)
	e.current.Load().learned.Wait()
	return d
}

func cachedFlags(lines []map[string]any) []bool {
	var out []bool
	for _, l := range lines {
		out = append(out, l["cached"] == true)
	}
	return out
}

func TestDecideCachedLibrary(t *testing.T) {
	t.Parallel()
	e := libraryEngineN(t, 10)
	key := CacheKey{Identity: "alice-token", Target: "rev1/notes__read_note"}
	read := libraryInput(PhaseCall, "notes", "read_note")
	ds, lines := cachedLines(t, e, key, read, read, read)
	if diff := cmp.Diff([]bool{false, true, true}, cachedFlags(lines)); diff != "" {
		t.Errorf("read_note served from the cache (-want +got):\n%s", diff)
	}
	for i, d := range ds {
		if !d.Allow || d.ID == "" || d.Revision == "" {
			t.Errorf("decision %d: %+v, want an allow with id and revision", i, d)
		}
	}
	if ds[1].ID == ds[2].ID {
		t.Error("cached decisions share a decision id")
	}
	// The cached line still carries the input, arguments masked.
	in, _ := lines[1]["input"].(map[string]any)
	if in["tool"] == nil || lines[1]["user_sub"] != "alice" {
		t.Errorf("cached line lacks the input: %v", lines[1])
	}
	if !cmp.Equal(lines[1]["erased"], []any{"/input/arguments/body"}) {
		t.Errorf("cached line: erased %v, want the argument body masked", lines[1]["erased"])
	}

	// write_note has argument rules: evaluated every time, and the
	// arguments decide.
	wkey := CacheKey{Identity: "alice-token", Target: "rev1/notes__write_note"}
	ok := libraryInput(PhaseCall, "notes", "write_note")
	bad := libraryInput(PhaseCall, "notes", "write_note")
	bad.Arguments = map[string]any{"body": "no id"}
	ds, lines = cachedLines(t, e, wkey, ok, bad, ok, bad)
	if diff := cmp.Diff([]bool{false, false, false, false}, cachedFlags(lines)); diff != "" {
		t.Errorf("write_note served from the cache (-want +got):\n%s", diff)
	}
	if got := []bool{ds[0].Allow, ds[1].Allow, ds[2].Allow, ds[3].Allow}; !cmp.Equal(got, []bool{true, false, true, false}) {
		t.Errorf("write_note decisions %v, want allow, deny, allow, deny", got)
	}
	// Denials are cached too.
	del := libraryInput(PhaseCall, "hr", "salary_report")
	ds, lines = cachedLines(t, e, CacheKey{Identity: "alice-token", Target: "rev1/hr__salary_report"}, del, del)
	if ds[1].Allow || !cmp.Equal(ds[0].Reasons, ds[1].Reasons) || !cmp.Equal(cachedFlags(lines), []bool{false, true}) {
		t.Errorf("salary_report: %+v then %+v (cached %v), want the same denial, then cached", ds[0], ds[1], cachedFlags(lines))
	}
}

// perCallPolicies read something per call, each in its own way.
var perCallPolicies = map[string]string{
	"arguments":          `decision := {"allow": input.arguments.id == "n1", "reasons": []}`,
	"request time":       `decision := {"allow": input.request.time < "2026-06-01", "reasons": []}`,
	"session":            `decision := {"allow": input.request.session_id == "s1", "reasons": []}`,
	"client":             `decision := {"allow": object.get(input, ["client", "name"], "x") == "x", "reasons": []}`,
	"whole input":        `decision := {"allow": count(object.keys(input)) > 0, "reasons": [sprintf("%v", [object.get(input, "arguments", {})])]}`,
	"dynamic key":        "k := concat(\"\", [\"argu\", \"ments\"])\ndecision := {\"allow\": input[k].id == \"n1\", \"reasons\": []}",
	"clock":              `decision := {"allow": time.now_ns() > 0, "reasons": [sprintf("%d", [time.now_ns()])]}`,
	"random":             `decision := {"allow": rand.intn("x", 2) >= 0, "reasons": [sprintf("%d", [rand.intn("x", 1000)])]}`,
	"certificate clock":  `decision := {"allow": crypto.x509.parse_and_verify_certificates("not a certificate")[0] == false, "reasons": []}`,
	"through a rule":     "ok if input.arguments.id == \"n1\"\ndefault ok := false\ndecision := {\"allow\": ok, \"reasons\": []}",
	"through a function": "f(x) := x.arguments.id\ndecision := {\"allow\": f(input) == \"n1\", \"reasons\": []}",
	"with":               "g := input.tool.name\ndecision := {\"allow\": true, \"reasons\": [g]} if { g with input.tool.name as input.arguments.id }",
	"rule metadata":      "# METADATA\n# title: by id\nf(x) := sprintf(\"%v %v\", [rego.metadata.rule(), x]) if x == \"n1\" else := sprintf(\"%v\", [rego.metadata.rule()])\ndecision := {\"allow\": input.arguments.id == \"n1\", \"reasons\": [f(input.arguments.id)]}",
}

// TestDecideCachedPerCallPolicies proves that a policy reading something
// per call is never served from the cache, however it reads it.
func TestDecideCachedPerCallPolicies(t *testing.T) {
	t.Parallel()
	for name, body := range perCallPolicies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, authzModule(body), Options{})
			in := callInput("alice")
			_, lines := cachedLines(t, e, CacheKey{Identity: "alice", Target: "notes__read_note"}, in, in, in)
			if diff := cmp.Diff([]bool{false, false, false}, cachedFlags(lines)); diff != "" {
				t.Errorf("served from the cache (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideCachedInvalidatedByReload(t *testing.T) {
	t.Parallel()
	e := newEngine(t, authzModule(`decision := {"allow": true, "reasons": ["v1"]}`), Options{})
	key, in := CacheKey{Identity: "alice", Target: "t"}, callInput("alice")
	decideLearned(e, key, in)
	if d := e.DecideCached(context.Background(), key, in); !d.Allow {
		t.Fatalf("v1: %+v", d)
	}
	if err := e.LoadModules(authzModule(`decision := {"allow": false, "reasons": ["v2"]}`), nil); err != nil {
		t.Fatal(err)
	}
	if d := e.DecideCached(context.Background(), key, in); d.Allow || !cmp.Equal(d.Reasons, []string{"v2"}) {
		t.Errorf("after reload: %+v, want the new policy's denial", d)
	}
	// Data is part of the revision too.
	if err := e.LoadModules(authzModule(`decision := {"allow": data.open, "reasons": []}`), map[string]any{"open": false}); err != nil {
		t.Fatal(err)
	}
	decideLearned(e, key, in)
	if err := e.LoadModules(authzModule(`decision := {"allow": data.open, "reasons": []}`), map[string]any{"open": true}); err != nil {
		t.Fatal(err)
	}
	if d := e.DecideCached(context.Background(), key, in); !d.Allow {
		t.Errorf("after a data change: %+v, want allow", d)
	}
}

func TestDecideCachedFailuresNotCached(t *testing.T) {
	t.Parallel()
	e := newEngine(t, authzModule(`decision := {"allow": true, "reasons": []}`), Options{})
	key, in := CacheKey{Identity: "alice", Target: "t"}, callInput("alice")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := e.DecideCached(ctx, key, in); d.Allow {
		t.Fatalf("canceled: %+v, want deny", d)
	}
	if n := e.current.Load().cache.len(); n != 0 {
		t.Errorf("a failed decision was cached (%d entries)", n)
	}
	if d := decideLearned(e, key, in); !d.Allow {
		t.Errorf("after a failure: %+v, want allow", d)
	}
	// A cached allow does not outlive a canceled caller's right to an
	// answer either: the hit is an allow, as the policy says.
	if d := e.DecideCached(ctx, key, in); !d.Allow {
		t.Errorf("hit: %+v", d)
	}
	// A malformed decision is never cached.
	e2 := newEngine(t, authzModule(`decision := {"allow": "yes"}`), Options{})
	for range 2 {
		if d := decideLearned(e2, key, in); d.Allow {
			t.Errorf("malformed: %+v, want deny", d)
		}
	}
	if n := e2.current.Load().cache.len(); n != 0 {
		t.Errorf("a malformed decision was cached (%d entries)", n)
	}
}

func TestDecideCachedHostileKeys(t *testing.T) {
	t.Parallel()
	e := newEngine(t, authzModule(`decision := {"allow": input.user.sub == "alice", "reasons": []}`), Options{CacheSize: 2})
	ctx := context.Background()
	if d := e.DecideCached(ctx, CacheKey{Identity: "x", Target: "t"}, nil); d.Allow {
		t.Errorf("nil input: %+v, want deny", d)
	}
	// Empty keys are not cached: mallory with an empty identity key is
	// decided as mallory, not as whoever came first.
	decideLearned(e, CacheKey{Target: "t"}, callInput("alice"))
	if d := e.DecideCached(ctx, CacheKey{Target: "t"}, callInput("mallory")); d.Allow {
		t.Errorf("empty identity key: %+v, want deny", d)
	}
	if n := e.current.Load().cache.len(); n != 0 {
		t.Errorf("empty keys cached %d entries", n)
	}
	// The phase and method are part of the key.
	decideLearned(e, CacheKey{Identity: "alice", Target: "t"}, callInput("alice"))
	list := callInput("mallory")
	list.Phase = PhaseList
	if d := e.DecideCached(ctx, CacheKey{Identity: "alice", Target: "t"}, list); d.Allow {
		t.Errorf("another phase under the same key served from the cache: %+v", d)
	}
	// Bounded.
	for i := range 10 {
		decideLearned(e, CacheKey{Identity: fmt.Sprint(i), Target: "t"}, callInput("alice"))
	}
	if n := e.current.Load().cache.len(); n != 2 {
		t.Errorf("cache holds %d entries, want its bound 2", n)
	}
	// Off.
	off := newEngine(t, authzModule(`decision := {"allow": true, "reasons": []}`), Options{CacheSize: -1})
	_, lines := cachedLines(t, off, CacheKey{Identity: "a", Target: "t"}, callInput("alice"), callInput("alice"))
	if diff := cmp.Diff([]bool{false, false}, cachedFlags(lines)); diff != "" {
		t.Errorf("cache off (-want +got):\n%s", diff)
	}
}

// TestDecideCachedConcurrent learns while other goroutines decide: with
// -race it proves that partial evaluation leaves the prepared policy alone
// (OPA's copy propagation rewrites terms in place; shallow inlining keeps
// it off), and every decision stays right.
func TestDecideCachedConcurrent(t *testing.T) {
	t.Parallel()
	e := libraryEngineN(t, 10)
	ctx := context.Background()
	tools := []string{"read_note", "write_note", "delete_note", "list_notes"}
	want := map[string]bool{}
	for _, tool := range tools {
		want[tool] = e.Decide(ctx, libraryInput(PhaseCall, "notes", tool)).Allow
	}
	var wg sync.WaitGroup
	errs := make(chan string, 6*200)
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				tool := tools[(g+i)%len(tools)]
				in := libraryInput(PhaseCall, "notes", tool)
				key := CacheKey{Identity: fmt.Sprint("alice-", i), Target: "notes__" + tool}
				if d := e.DecideCached(ctx, key, in); d.Allow != want[tool] {
					errs <- fmt.Sprintf("%s: allow %v, want %v (%v)", tool, d.Allow, want[tool], d.Reasons)
				}
			}
		})
	}
	// A policy whose partial evaluation copy propagation rewrote in place,
	// interned terms ([] here) included.
	// A generous timeout, as libraryEngineN has: under -race beside the
	// other packages on two cores, 100 ms is not always enough.
	small := newEngine(t, authzModule(`decision := {"allow": input.user.sub == "alice", "reasons": []}`), Options{Timeout: time.Minute})
	for g := range 2 {
		wg.Go(func() {
			for i := range 200 {
				key := CacheKey{Identity: fmt.Sprint(g, "-", i), Target: "t"}
				if d := small.DecideCached(ctx, key, callInput("alice")); !d.Allow {
					errs <- fmt.Sprintf("small policy: %+v, want allow", d)
				}
			}
		})
	}
	wg.Wait()
	e.current.Load().learned.Wait()
	small.current.Load().learned.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// byNameEngine is an engine whose decisions read the tool's name only,
// logging to buf, with a call of alice's and its key.
func byNameEngine(t *testing.T) (e *Engine, dl *DecisionLog, buf *testtools.SyncBuffer, key CacheKey, in *Input) {
	buf = &testtools.SyncBuffer{}
	dl = NewDecisionLog(buf, 100)
	e = newEngine(t, authzModule(`decision := {"allow": input.tool.name == "notes__read_note", "reasons": ["by name"]}`), Options{DecisionLog: dl, Timeout: time.Minute})
	return e, dl, buf, CacheKey{Identity: "alice", Target: "notes__read_note"}, callInput("alice")
}

// CheckCached reads what DecideCached learned, without logging: before the
// key is learned it is Check, after it the cached decision; a per-call
// policy is always evaluated (and follows the arguments).
func TestCheckCached(t *testing.T) {
	t.Parallel()
	e, dl, buf, key, in := byNameEngine(t)
	if d := e.CheckCached(context.Background(), key, in); !d.Allow || d.ID == "" || d.Revision == "" {
		t.Fatalf("before learning: %+v", d)
	}
	decideLearned(e, key, in) // the decision of record learns the key
	d := e.CheckCached(context.Background(), key, in)
	if !d.Allow || d.ID == "" || d.Revision != e.Revision() {
		t.Fatalf("after learning: %+v", d)
	}
	// Served from the cache: its reasons are the cached decision's own, not
	// those of a new evaluation.
	hit, _ := e.current.Load().cache.get(cacheKey{identity: key.Identity, target: key.Target, phase: in.Phase, method: in.Method})
	if hit == nil || len(d.Reasons) == 0 || len(hit.Reasons) == 0 || &d.Reasons[0] != &hit.Reasons[0] {
		t.Fatalf("after learning the look ahead evaluated the policy again (cached %+v)", hit)
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	if lines := logLines(t, buf.String()); len(lines) != 1 {
		t.Fatalf("%d decision-log lines, want only DecideCached's: the look ahead is never logged", len(lines))
	}

	per := newEngine(t, authzModule(`decision := {"allow": input.arguments.id == "n1", "reasons": []}`), Options{Timeout: time.Minute})
	open, closed := callInput("alice"), callInput("alice")
	open.Arguments, closed.Arguments = map[string]any{"id": "n1"}, map[string]any{"id": "n2"}
	decideLearned(per, key, open)
	if d := per.CheckCached(context.Background(), key, closed); d.Allow {
		t.Fatal("a per-call decision was served from the cache to the look ahead")
	}
}

// TestCachedDecision: the look ahead without an input has the decision
// DecideCached learned for exactly that key, phase and method, marked
// cached; nothing before learning, nothing for a per-call decision
// (whose residual needs the input), nothing logged.
func TestCachedDecision(t *testing.T) {
	t.Parallel()
	e, dl, buf, key, in := byNameEngine(t)
	if d, ok := e.CachedDecision(key, in.Phase, in.Method); ok {
		t.Fatalf("before learning: %+v", d)
	}
	decideLearned(e, key, in)
	d, ok := e.CachedDecision(key, in.Phase, in.Method)
	if !ok || !d.Allow || !d.Cached || d.ID == "" || d.Revision != e.Revision() || !slices.Equal(d.Reasons, []string{"by name"}) {
		t.Fatalf("after learning: %+v, %v", d, ok)
	}
	for name, k := range map[string]struct {
		key           CacheKey
		phase, method string
	}{
		"another identity": {CacheKey{Identity: "bob", Target: key.Target}, in.Phase, in.Method},
		"another target":   {CacheKey{Identity: key.Identity, Target: "notes__write_note"}, in.Phase, in.Method},
		"another phase":    {key, PhaseList, in.Method},
		"another method":   {key, in.Phase, "prompts/get"},
		"no identity":      {CacheKey{Target: key.Target}, in.Phase, in.Method},
	} {
		if d, ok := e.CachedDecision(k.key, k.phase, k.method); ok {
			t.Errorf("%s: %+v", name, d)
		}
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	if lines := logLines(t, buf.String()); len(lines) != 1 {
		t.Fatalf("%d decision-log lines, want only DecideCached's", len(lines))
	}
	per := newEngine(t, authzModule(`decision := {"allow": input.arguments.id == "n1", "reasons": []}`), Options{Timeout: time.Minute})
	open := callInput("alice")
	open.Arguments = map[string]any{"id": "n1"}
	decideLearned(per, key, open)
	if d, ok := per.CachedDecision(key, open.Phase, open.Method); ok {
		t.Fatalf("a per-call decision without its input: %+v", d)
	}
}

// TestCachedRecordBoundsLargeArguments: a decision served from the cache
// queues its input for the log's goroutine, except large arguments, which
// are bounded at once: the queue must not hold thousands of request bodies.
func TestCachedRecordBoundsLargeArguments(t *testing.T) {
	t.Parallel()
	e := newEngine(t, authzModule(`decision := {"allow": input.tool.name == "notes__read_note", "reasons": []}`), Options{})
	key := CacheKey{Identity: "alice", Target: "notes__read_note"}
	e.DecideCached(context.Background(), key, callInput("alice")) // learns
	e.current.Load().learned.Wait()
	// A log whose goroutine is not running: what is queued stays queued.
	l := &DecisionLog{ch: make(chan record, 4), done: make(chan struct{})}
	e.dlog.Store(l)
	defer e.dlog.Store(nil)
	small, large := callInput("alice"), callInput("alice")
	small.ArgumentsSize = 100
	large.ArgumentsSize = maxLazyArguments + 1
	for _, in := range []*Input{small, large} {
		if d := e.DecideCached(context.Background(), key, in); !d.Allow {
			t.Fatalf("denied: %v", d.Reasons)
		}
	}
	queued := []record{<-l.ch, <-l.ch}
	if !queued[0].cached || queued[0].lazy == nil {
		t.Errorf("small arguments: cached %v, lazy %v; want the input left to the log's goroutine", queued[0].cached, queued[0].lazy != nil)
	}
	if !queued[1].cached || queued[1].lazy != nil || queued[1].input == nil {
		t.Errorf("large arguments: cached %v, lazy %v, input %v; want the input bounded at once", queued[1].cached, queued[1].lazy != nil, queued[1].input != nil)
	}
}

// residualPolicies are per-call policies whose residuals reach rules
// through references with variables (found in review: such rules were left
// out of the residual, and a deny became an allow).
var residualPolicies = map[string]map[string]string{
	"every over a ref-head set": {"p.rego": `package mcpgate.authz
blocked.delete if true
blocked.drop if true
default allow := false
allow if every op in input.arguments.ops { not blocked[op] }
decision := {"allow": allow, "reasons": []}
`},
	"comprehension over another package": {"p.rego": `package mcpgate.authz
default allow := false
allow if count([op | some op in input.arguments.ops; data.mcpgate.deny[op]]) == 0
decision := {"allow": allow, "reasons": []}
`, "d.rego": `package mcpgate.deny
delete := true
`},
	"ref-head set by argument": {"p.rego": `package mcpgate.authz
blocked.delete if input.arguments.id == "n1"
blocked.drop if input.arguments.id == "n1"
default allow := false
allow if not blocked[input.arguments.op]
decision := {"allow": allow, "reasons": []}
`},
	"another package by argument": {"p.rego": `package mcpgate.authz
default allow := false
allow if not data.mcpgate.deny[input.arguments.op].hit
decision := {"allow": allow, "reasons": []}
`, "d.rego": `package mcpgate.deny
delete.hit if input.arguments.id == "n1"
`},
	"per-call rule behind a variable": {"p.rego": `package mcpgate.authz
bad.mcp if input.arguments.id == "n1"
default allow := false
allow if every s in input.token.scopes { not bad[s] }
decision := {"allow": allow, "reasons": []}
`},
	"a package named partial": {"p.rego": `package mcpgate.authz
default allow := false
allow if not data.partial.mcpgate.authz.bad
decision := {"allow": allow, "reasons": []}
`, "partial.rego": `package partial.mcpgate.authz
bad if input.arguments.id == "n1"
`},
	"import alias": {"p.rego": `package mcpgate.authz
import data.mcpgate.lib as l
default allow := false
allow if not l.bad
decision := {"allow": allow, "reasons": []}
`, "l.rego": `package mcpgate.lib
bad if input.arguments.id == "n1"
`},
}

// TestResidualsFollowPerCallFields: a key whose decision reads a per-call
// field is then decided by its residual (logged "residual": true), which
// decides every variation of the per-call fields as Decide does; a policy
// that checks certificates against the clock is never given one.
func TestResidualsFollowPerCallFields(t *testing.T) {
	t.Parallel()
	noResidual := map[string]bool{"certificate clock": true, "rule metadata": true, "a package named partial": true}
	// Their reasons change from one evaluation to the next by design.
	allowOnly := map[string]bool{"clock": true, "random": true}
	policies := map[string]map[string]string{}
	for name, body := range perCallPolicies {
		policies[name] = authzModule(body)
	}
	for name, modules := range residualPolicies {
		policies[name] = modules
	}
	for name, modules := range policies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, modules, Options{})
			key := CacheKey{Identity: "alice", Target: "notes__read_note"}
			decideLearned(e, key, callInput("alice"))
			var ins []*Input
			for i, id := range []any{"n1", "n2", nil, 7.0} {
				in := callInput("alice")
				in.Arguments = map[string]any{"id": id, "op": []any{"delete", "read"}[i%2], "ops": [][]any{{"delete"}, {"read"}, {}, {"drop", "x"}}[i]}
				in.Request.SessionID = fmt.Sprintf("s%d", i%2+1)
				in.Request.Time = time.Date(2026, time.Month(1+i*3), 2, 3, 4, 5, 0, time.UTC)
				if i%2 == 1 {
					in.Client = &Client{Name: "x"}
				}
				ins = append(ins, in)
			}
			ds, lines := cachedLines(t, e, key, ins...)
			for i, in := range ins {
				want := decisionOnly(e.Decide(context.Background(), in))
				got := decisionOnly(ds[i])
				if allowOnly[name] {
					want, got = Decision{Allow: want.Allow}, Decision{Allow: got.Allow}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("variation %d: (-Decide +DecideCached):\n%s", i, diff)
				}
				if residual := lines[i]["residual"] == true; residual == noResidual[name] {
					t.Errorf("variation %d: logged residual %v", i, residual)
				}
			}
		})
	}
}
