package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// keepArguments is a mask rule that masks nothing: arguments reach the log.
const keepArguments = "package system.log\nmask contains \"/input/nothing\" if false\n"

// A huge argument gives a line of bounded size that says what it cut.
func TestDecisionLogBoundsHugeValues(t *testing.T) {
	t.Parallel()
	in := callInput("mallory")
	huge := strings.Repeat("é", 2<<20) // 4 MiB of two-byte characters
	list := make([]any, 100_000)
	for i := range list {
		list[i] = i
	}
	in.Arguments = map[string]any{"id": "n1", "body": huge, "list": list, strings.Repeat("k", 5000): 1}
	in.Tool.Name = strings.Repeat("t", 10_000)
	line, raw := decide(t, map[string]string{"authz.rego": allowAlice, "mask.rego": keepArguments}, in)
	if len(raw) > maxLoggedLine+8<<10 {
		t.Errorf("line of %d bytes for a request of about 4 MiB, want at most about %d", len(raw), maxLoggedLine)
	}
	truncated := fmt.Sprint(line["truncated"])
	for _, p := range []string{"/arguments/body", "/arguments/list", "/arguments/" + strings.Repeat("k", 50)} {
		if !strings.Contains(truncated, p) {
			t.Errorf("truncated %s does not name %s", truncated, p)
		}
	}
	args := line["input"].(map[string]any)["arguments"].(map[string]any)
	body := args["body"].(string)
	if len(body) > maxLoggedString+64 || !strings.HasPrefix(body, "éé") || !strings.Contains(body, "…[truncated: ") {
		t.Errorf("body logged as %d bytes %.40q…, want its beginning and a truncation mark", len(body), body)
	}
	if n := len(args["list"].([]any)); n != maxLoggedItems {
		t.Errorf("list logged with %d items, want %d", n, maxLoggedItems)
	}
	if args["id"] != "n1" {
		t.Errorf("a small argument was changed: %v", args["id"])
	}
	if target := line["target"].(string); len(target) > maxLoggedString+64 || !strings.Contains(target, "truncated") {
		t.Errorf("target logged as %d bytes", len(target))
	}
}

// Many values of the largest size, or deep nesting, are bounded by the
// budget of the whole input; a line still too long leaves the input out and
// says so.
func TestDecisionLogBoundsManyValues(t *testing.T) {
	t.Parallel()
	in := callInput("mallory")
	many := map[string]any{}
	for i := range 200 {
		many[fmt.Sprintf("k%03d", i)] = strings.Repeat("v", maxLoggedString)
	}
	in.Arguments = map[string]any{"many": many}
	line, raw := decide(t, map[string]string{"authz.rego": allowAlice, "mask.rego": keepArguments}, in)
	if len(raw) > maxLoggedLine+8<<10 {
		t.Errorf("line of %d bytes", len(raw))
	}
	if line["input"] == nil && line["input_omitted"] == nil {
		t.Error("input neither kept nor said to be omitted")
	}
	if line["truncated"] == nil && line["input_omitted"] == nil {
		t.Error("a 200 KiB input logged without any truncation mark")
	}
	var reasons []any
	if r, ok := line["reasons"].([]any); ok {
		reasons = r
	}
	if !slices.Contains(reasons, any("not alice")) {
		t.Errorf("reasons %v", reasons)
	}
}

// An input within the bounds is logged whole: no copy, no mark.
func TestDecisionLogBoundsLeaveOrdinaryInputs(t *testing.T) {
	t.Parallel()
	line, _ := decide(t, map[string]string{"authz.rego": allowAlice, "mask.rego": keepArguments}, callInput("alice"))
	if line["truncated"] != nil || line["input_omitted"] != nil {
		t.Errorf("an ordinary input was cut: %v %v", line["truncated"], line["input_omitted"])
	}
	args, _ := json.Marshal(line["input"].(map[string]any)["arguments"])
	if string(args) != `{"id":"n1","password":"hunter2"}` {
		t.Errorf("arguments logged as %s", args)
	}
}

func TestTruncateStringKeepsCharacters(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("a", maxLoggedString-1) + "€" // the euro sign straddles the limit
	got, cut := truncateString(s)
	if !cut || !strings.HasPrefix(got, strings.Repeat("a", maxLoggedString-1)+"…") {
		t.Errorf("truncateString cut %v into %q", cut, got[maxLoggedString-8:])
	}
}

// BenchmarkDecideHugeDenied: the cost of a 4 MiB call the policy denies,
// decision log on (the hostile review measured 2.3 s and a 16.6 MB line
// before the log was bounded).
func BenchmarkDecideHugeDenied(b *testing.B) {
	in := callInput("mallory")
	in.Arguments = map[string]any{"body": strings.Repeat("x", 4<<20)}
	dl := NewDecisionLog(io.Discard, 16)
	defer dl.Close()
	e := newEngine(b, map[string]string{"authz.rego": allowAlice, "mask.rego": keepArguments}, Options{DecisionLog: dl})
	for b.Loop() {
		if e.Decide(context.Background(), in).Allow {
			b.Fatal("allowed")
		}
	}
}

// TestBounderFitsIsBound: fits says a value is within the bounds exactly
// when bound cuts nothing from it, for values around every bound (string
// length, items, keys, the budget of a whole line).
func TestBounderFitsIsBound(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(21, 22))
	str := func() ast.Value {
		n := pick(r, 10, 300, maxLoggedString-3)
		if r.IntN(50) == 0 {
			n = maxLoggedString + 1
		}
		return ast.String(strings.Repeat("é", r.IntN(3)) + strings.Repeat("x", n))
	}
	// gen makes a value of at most two levels of containers, the outer
	// one with up to maxLoggedItems+1 entries, the inner ones small.
	var gen func(depth int) ast.Value
	gen = func(depth int) ast.Value {
		n := pick(r, 2, 30)
		if depth == 0 {
			n = pick(r, 3, 60, maxLoggedItems, maxLoggedItems+1)
		}
		many := n > 100 // of short strings: only the item bound can cut
		switch k := r.IntN(4); {
		case k == 0 || depth > 1:
			return str()
		case k == 1:
			terms := make([]*ast.Term, n)
			for i := range terms {
				terms[i] = ast.NewTerm(gen(depth + 1))
				if many {
					terms[i] = ast.StringTerm("short")
				}
			}
			return ast.NewArray(terms...)
		default:
			items := make([][2]*ast.Term, n)
			for i := range items {
				key := fmt.Sprintf("k%d", i)
				if r.IntN(300) == 0 {
					key = strings.Repeat("k", maxLoggedString+1)
				}
				items[i] = [2]*ast.Term{ast.StringTerm(key), ast.NewTerm(gen(depth + 1))}
				if many {
					items[i][1] = ast.StringTerm("short")
				}
			}
			return ast.NewObject(items...)
		}
	}
	fitting, total := 0, 0
	for range 300 {
		v := gen(0)
		budget := pick(r, maxLoggedLine, 4096, 1<<20, 500)
		fit, b := bounder{budget: budget}, bounder{budget: budget}
		_, cut := b.bound(v)
		if fit.fits(v) == cut {
			t.Fatalf("fits %v, bound cut %v (budget %d)", !cut, cut, budget)
		}
		if !cut {
			fitting++
		}
		total++
	}
	if fitting == 0 || fitting == total {
		t.Errorf("%d of %d values fit: the generator does not exercise both", fitting, total)
	}
}
