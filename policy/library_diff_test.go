package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpgate/mcpgate/rego"
)

// diffData is the library's demo data with an entry for every kind of rule:
// labels, patterns, argument constraints, time windows, clients, scopes.
func diffData(tb testing.TB) map[string]any {
	tb.Helper()
	_, data, err := rego.Library()
	if err != nil {
		tb.Fatal(err)
	}
	var extra map[string]any
	if err := json.Unmarshal([]byte(`{
		"groups": {
			"ops": {"labels": {"env": {"prod": {"tools": {"*": "read", "restart_*": "all"}, "prompts": {"*": true}}}}},
			"sales": {"servers": {"crm*": {"tools": {"get_?": "read", "put_deal": "write"}, "resources": {"crm://deals/*": true}}}},
			"empty": {},
			"docs": {"servers": {"notes": {"resources": {"notes://n1": true, "crm://deals/{id}": false, "crm://*": true}, "prompts": {"read_note": "read", "write_note": "none", "*": "all"}}}}
		},
		"arguments": {
			"notes": {"write_note": {"id": {"required": true, "max_length": 64}, "path": {"path_prefixes": ["/notes/"]}}},
			"crm": {"put_deal": {"amount": {"min": 0, "max": 1000}, "stage": {"values": ["open", "won"], "patterns": ["lost-*"]}}}
		},
		"conditions": {
			"hr": {"hours": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "from": "09:00", "to": "17:00"}], "clients": ["claude-code"]},
			"*": {"hours": [{"from": "22:00", "to": "21:00"}]}
		},
		"scopes": {"calendar": ["calendar:read"]},
		"approval": {"allow_unapproved": {"admin": ["new"], "ops": ["new", "modified"], "nobody": ["modified"]}}
	}`), &extra); err != nil {
		tb.Fatal(err)
	}
	cfg := data["mcpgate"].(map[string]any)["config"].(map[string]any)
	for k, v := range extra {
		if m, ok := v.(map[string]any); ok && k == "groups" {
			for g, grant := range m {
				cfg["groups"].(map[string]any)[g] = grant
			}
			continue
		}
		cfg[k] = v
	}
	return data
}

// libraryBefore is the library as it was before it was made cheap
// (testdata/library-before), for the differential test only.
func libraryBefore(tb testing.TB) map[string]string {
	tb.Helper()
	files, err := filepath.Glob("testdata/library-before/*.rego")
	if err != nil || len(files) == 0 {
		tb.Fatalf("testdata/library-before: %v", err)
	}
	modules := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		modules[filepath.Base(f)] = string(src)
	}
	return modules
}

func loadedEngine(tb testing.TB, modules map[string]string, data map[string]any) *Engine {
	tb.Helper()
	// A timeout is a difference too: none on a busy test machine.
	e := NewEngine(Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute, Library: modules})
	if err := e.LoadModules(modules, data); err != nil {
		tb.Fatal(err)
	}
	return e
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func maybeBool(r *rand.Rand) *bool {
	switch r.IntN(3) {
	case 0:
		return nil
	case 1:
		return new(bool)
	}
	b := true
	return &b
}

// randomInput is a request the gateway could send, and some it should not.
func randomInput(r *rand.Rand) *Input {
	server := pick(r, "notes", "hr", "calendar", "crm", "crm-eu", "server_1", "")
	var groups []string
	for range r.IntN(4) {
		groups = append(groups, pick(r, "engineering", "hr", "admin", "ops", "sales", "empty", "nobody", "docs"))
	}
	in := &Input{
		Phase:   pick(r, PhaseCall, PhaseCall, PhaseList, PhaseInitialize, "bogus"),
		Method:  pick(r, "tools/call", "tools/list", "prompts/get", "resources/read"),
		User:    User{Sub: pick(r, "alice", "bob"), Iss: "https://idp.test", Email: pick(r, "", "a@example.com"), Groups: groups, Claims: map[string]any{}},
		Token:   Token{Scopes: pick(r, []string{"mcp"}, []string{"calendar:read"}, nil, []string{"notes:write", "mcp"}), Aud: []string{"https://gw.test/mcp"}},
		Server:  &Server{Name: server, Labels: pick(r, map[string]string{"env": "prod"}, nil, map[string]string{"env": "dev"})},
		Request: Request{SessionID: "s", Time: time.Date(2026, 12, 1+r.IntN(7), r.IntN(24), r.IntN(60), 0, 0, time.UTC)},
	}
	if r.IntN(2) == 0 {
		in.Client = &Client{Name: pick(r, "claude-code", "cursor", "")}
	}
	targetServer := server
	if r.IntN(10) == 0 {
		targetServer = "other"
	}
	name := pick(r, "read_note", "write_note", "delete_note", "salary_report", "list_events", "restart_web", "get_a", "get_ab", "put_deal", "tool_1")
	switch r.IntN(6) {
	case 5:
		in.Tool = &Tool{Name: targetServer + "__" + name, UpstreamName: name, Server: targetServer}
		in.Resource = &Resource{URI: "notes://n1", Server: targetServer}
	case 0:
		in.Prompt = &Prompt{Name: targetServer + "__" + name, UpstreamName: name, Server: targetServer}
	case 1:
		in.Resource = &Resource{URI: pick(r, "crm://deals/1", "notes://n1", ""), URITemplate: pick(r, "", "crm://deals/{id}"), Server: targetServer}
	case 2:
		in.Tool = &Tool{Name: targetServer + "__" + name, UpstreamName: name, Server: targetServer}
		in.Prompt = &Prompt{Name: "p", UpstreamName: "p", Server: targetServer}
	default:
		in.Tool = &Tool{Name: targetServer + "__" + name, UpstreamName: name, Server: targetServer,
			Annotations: pick(r, nil, &Annotations{ReadOnlyHint: maybeBool(r), DestructiveHint: maybeBool(r)})}
	}
	if in.Phase == PhaseCall && r.IntN(4) != 0 {
		in.Arguments = map[string]any{}
		for range r.IntN(4) {
			in.Arguments[pick(r, "id", "path", "amount", "stage", "body")] = pick[any](r,
				"x", strings.Repeat("y", 70), "/notes/a", "/notes/../etc", "/etc/passwd", 5.0, -1.0, 5000.0, "won", "lost-big", "closed", nil, []any{1.0})
		}
	}
	if r.IntN(3) == 0 {
		in.Catalogue = []Scope{{Name: "notes:read", Server: "notes", Level: "read"}, {Name: "notes:write", Server: "notes", Level: pick(r, "write", "")}, {Name: "all", Server: "*", Level: "all"}}
	}
	return in
}

func decisionOnly(d Decision) Decision {
	return Decision{Allow: d.Allow, Reasons: d.Reasons, RequiredScopes: d.RequiredScopes, AllowUnapproved: d.AllowUnapproved}
}

// TestLibraryDecisionsUnchanged: the cheap library decides every request
// as the library before it did (allow, reasons, required scopes).
func TestLibraryDecisionsUnchanged(t *testing.T) {
	t.Parallel()
	modules, _, err := rego.Library()
	if err != nil {
		t.Fatal(err)
	}
	data := diffData(t)
	before, after := loadedEngine(t, libraryBefore(t), data), loadedEngine(t, modules, data)
	r := rand.New(rand.NewPCG(1, 2))
	ctx, allowed := context.Background(), 0
	for i := range 3000 {
		in := randomInput(r)
		want, got := before.Decide(ctx, in), after.Decide(ctx, in)
		if diff := cmp.Diff(decisionOnly(want), decisionOnly(got)); diff != "" {
			bs, _ := json.Marshal(in)
			t.Fatalf("request %d %s: decision changed (-before +after):\n%s", i, bs, diff)
		}
		if got.Allow {
			allowed++
		}
	}
	if allowed < 100 || allowed > 2900 {
		t.Errorf("%d of 3000 random requests allowed: the generator does not exercise both outcomes", allowed)
	}
}

// TestDecideCachedEqualsDecide: served from the cache or not, every
// decision is the one Decide makes, for random requests whose keys name
// their identity and target faithfully.
func TestDecideCachedEqualsDecide(t *testing.T) {
	t.Parallel()
	modules, _, err := rego.Library()
	if err != nil {
		t.Fatal(err)
	}
	data := diffData(t)
	plain, cached := loadedEngine(t, modules, data), loadedEngine(t, modules, data)
	r := rand.New(rand.NewPCG(3, 4))
	bases := make([]*Input, 50)
	for i := range bases {
		bases[i] = randomInput(r)
		describe(r, bases[i])
	}
	ctx, hits, residualHits, unapproved := context.Background(), 0, 0, 0
	for i := range 1000 {
		// The same identities and targets, with fresh per-call fields.
		in, fresh := *bases[r.IntN(len(bases))], randomInput(r)
		if in.Phase == PhaseCall {
			in.Arguments = fresh.Arguments
		}
		in.Request, in.Client = fresh.Request, fresh.Client
		key := faithfulKey(&in)
		c := cached.current.Load()
		if hit, res, _ := c.cache.lookup(cacheKey{key.Identity, key.Target, in.Phase, in.Method}); hit != nil {
			hits++
		} else if res != nil {
			residualHits++
		}
		want, got := plain.Decide(ctx, &in), cached.DecideCached(ctx, key, &in)
		c.learned.Wait()
		if diff := cmp.Diff(decisionOnly(want), decisionOnly(got)); diff != "" {
			bs, _ := json.Marshal(&in)
			t.Fatalf("request %d %s: cached decision differs (-Decide +DecideCached):\n%s", i, bs, diff)
		}
		if got.AllowUnapproved {
			unapproved++
		}
	}
	if unapproved == 0 {
		t.Error("no decision has allow_unapproved: the test proves nothing for it")
	}
	t.Logf("%d of 1000 decisions served from the cache, %d decided by residuals", hits, residualHits)
	if hits < 300 {
		t.Errorf("only %d of 1000 decisions served from the cache: the test proves little", hits)
	}
	if residualHits < 100 {
		t.Errorf("only %d of 1000 decisions decided by residuals: the test proves little for them", residualHits)
	}
}

// faithfulKey is what the gateway's keys must be: the identity names the
// user and token, the target everything else but the per-call fields.
func faithfulKey(in *Input) CacheKey {
	id, _ := json.Marshal([]any{in.User, in.Token})
	rest := *in
	rest.User, rest.Token, rest.Arguments, rest.Request, rest.Client = User{}, Token{}, nil, Request{}, nil
	target, _ := json.Marshal(rest)
	return CacheKey{Identity: string(id), Target: fmt.Sprint(string(target))}
}
