package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// maskPointers are the rules randomMask picks from: removals and upserts
// of values that exist or not, through objects, arrays and scalars, with
// escaped names, the whole input, and rules under others.
var maskPointers = []any{
	"/input/arguments",
	"/input/arguments/id",
	"/input/arguments/path",
	"/input/arguments/amount",
	"/input/arguments/missing",
	"/input/arguments/a~1b",
	"/input/arguments/a%2Fb",
	"/input/arguments/%3Ctag%3E",
	"/input/user/claims",
	"/input/user/groups/0",
	"/input/user/sub/x",
	"/input/token",
	"/input/request/time",
	"/input/nothing/deeper",
	"/input/",
	"/input",
	map[string]any{"op": "upsert", "path": "/input/arguments/id", "value": "**"},
	map[string]any{"op": "upsert", "path": "/input/arguments/body", "value": map[string]any{"b": []any{1.0, "<x>"}}},
	map[string]any{"op": "upsert", "path": "/input/arguments/new", "value": "created"},
	map[string]any{"op": "upsert", "path": "/input/tool/annotations/title", "value": "T"},
	map[string]any{"op": "upsert", "path": "/input/user/groups/1", "value": "g"},
	map[string]any{"op": "upsert", "path": "/input/deep/new/value", "value": true},
	map[string]any{"op": "upsert", "path": "/input", "value": map[string]any{"replaced": "whole"}},
	map[string]any{"op": "upsert", "path": "/input/user/sub", "value": nil},
	map[string]any{"op": "upsert", "path": "/input", "value": nil},
}

func randomMask(t *testing.T, r *rand.Rand) []maskRule {
	if r.IntN(5) == 0 {
		return nil // no mask rule: every argument masked
	}
	var raw []any
	for range r.IntN(4) {
		raw = append(raw, maskPointers[r.IntN(len(maskPointers))])
	}
	rules, err := parseMaskRules(raw)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// maskInputs are inputs as the decision log holds them (bounded), with
// arguments and claims of every JSON kind and names to escape.
func maskInputs(t *testing.T, r *rand.Rand) ast.Value {
	in := randomInput(r)
	if r.IntN(2) == 0 {
		in = fullInput()
	}
	if in.Arguments == nil && r.IntN(2) == 0 {
		in.Arguments = map[string]any{}
	}
	if in.Arguments != nil {
		in.Arguments["a/b"] = pick[any](r, "x", 1e300, -0.5, 12345678901234567890.0, true, nil)
		in.Arguments["<tag>"] = pick[any](r, "é\u2028\x00\"\\", []any{"<", map[string]any{"&": 1.0}}, map[string]any{})
		in.Arguments["path"] = pick[any](r, "/etc/passwd", "\xff\xfe", "")
	}
	v, err := in.ASTValue()
	if err != nil {
		t.Fatal(err)
	}
	if r.IntN(50) == 0 {
		v = ast.Null{} // not an input the gateway makes; logged as none
	}
	rec := &record{}
	rec.setInput(v)
	return rec.input
}

// TestMaskJSONEqualsMaskValue: the decision log's JSON writer writes, for
// the rules it takes, exactly the bytes (and reports exactly the erased
// and masked pointers) of masking the input as Go values and encoding
// them, and it takes most of the shipped library's cases.
func TestMaskJSONEqualsMaskValue(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	fast, total := 0, 0
	for range 3000 {
		in, rules := maskInputs(t, r), randomMask(t, r)
		total++
		raw, erased, masked, ok := maskJSON(in, slices.Clone(rules))
		if !ok {
			continue
		}
		fast++
		doc, wantErased, wantMasked, err := maskValue(in, slices.Clone(rules))
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		if doc != nil {
			if want, err = json.Marshal(doc); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(raw, want) || !slices.Equal(erased, wantErased) || !slices.Equal(masked, wantMasked) {
			t.Fatalf("rules %+v on %v:\n got %s erased %q masked %q\nwant %s erased %q masked %q",
				rules, in, raw, erased, masked, want, wantErased, wantMasked)
		}
	}
	t.Logf("fast %d of %d", fast, total)
	if fast < total/3 {
		t.Errorf("the JSON writer took %d of %d cases", fast, total)
	}
}

// TestMaskJSONRefuses: what the writer cannot do exactly goes to the Go
// values (ok false): upserts that create, paths through arrays, rules
// under others, keys that are not strings, numbers JSON cannot hold.
func TestMaskJSONRefuses(t *testing.T) {
	t.Parallel()
	in := ast.MustParseTerm(`{"arguments": {"id": "x", "list": [1, 2]}, "user": {"sub": "a"}}`).Value
	for name, raw := range map[string][]any{
		"creates a key":      {map[string]any{"op": "upsert", "path": "/input/arguments/new", "value": 1}},
		"creates objects":    {map[string]any{"op": "upsert", "path": "/input/a/b", "value": 1}},
		"through an array":   {"/input/arguments/list/0"},
		"under another rule": {"/input/arguments", "/input/arguments/id"},
		"the same path":      {"/input/arguments/id", map[string]any{"op": "upsert", "path": "/input/arguments/id", "value": 1}},
	} {
		rules, err := parseMaskRules(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, ok := maskJSON(in, rules); ok {
			t.Errorf("%s: the writer took it", name)
		}
	}
	for name, v := range map[string]string{
		"key not a string": `{"arguments": {1: "x"}}`,
		"a set":            `{"user": {"groups": {"a", "b"}}}`,
	} {
		if _, _, _, ok := maskJSON(ast.MustParseTerm(v).Value, []maskRule{}); ok {
			t.Errorf("%s: the writer took it", name)
		}
	}
	if _, _, _, ok := maskJSON(ast.NewObject(ast.Item(ast.StringTerm("n"), ast.NumberTerm("1e"))), []maskRule{}); ok {
		t.Error("an invalid number: the writer took it")
	}
	for _, n := range []string{"0", "-0", "1.5", "-12e+3", "1E-7", "12345678901234567890"} {
		if !validNumber(n) {
			t.Errorf("%s: not a valid number", n)
		}
	}
	for _, n := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "0x1", "NaN", "1.5.5"} {
		if validNumber(n) {
			t.Errorf("%q: a valid number", n)
		}
	}
}

// BenchmarkMaskJSON is one decision-log input masked and encoded (a call
// with arguments and claims, the shipped library's rule: erase the
// arguments) by the JSON writer; BenchmarkMaskValue the same through Go
// values, as before the writer (and still for OPA's decision-log plugin).
func BenchmarkMaskJSON(b *testing.B) { benchmarkMask(b, true) }

func BenchmarkMaskValue(b *testing.B) { benchmarkMask(b, false) }

func benchmarkMask(b *testing.B, writer bool) {
	in, err := fullInput().ASTValue()
	if err != nil {
		b.Fatal(err)
	}
	rules, err := parseMaskRules([]any{"/input/arguments"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if writer {
			if _, _, _, ok := maskJSON(in, rules); !ok {
				b.Fatal("not taken")
			}
			continue
		}
		doc, _, _, err := maskValue(in, rules)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLineJSONEqualsMarshal: the decision log writes each line exactly as
// json.Marshal writes it, for lines of every shape: inputs the writer
// made, Go values, none; nil and empty lists; strings to escape.
func TestLineJSONEqualsMarshal(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 14))
	text := func() string { return pick(r, "", "plain", "<b>&amp;</b>", "é\u2028\x00\"\\\x7f", "\xff") }
	list := func() []string {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		return []string{text(), text()}
	}
	for range 2000 {
		l := logLine{Time: text(), DecisionID: text(), TraceID: text(), SessionID: text(), UserSub: text(), Phase: text(),
			Method: text(), Target: text(), Server: text(), Allow: r.IntN(2) == 0, Reasons: list(), Granted: list(),
			Revision: text(), EvalNS: r.Int64N(1e9) - 5, Cached: r.IntN(2) == 0, Residual: r.IntN(2) == 0, Error: text(),
			Erased: list(), Masked: list(), Truncated: list(), InputOmitted: text()}
		in, rules := maskInputs(t, r), randomMask(t, r)
		switch r.IntN(4) {
		case 0:
			if raw, _, _, ok := maskJSON(in, rules); ok {
				l.Input = raw
			}
		case 1:
			l.Input, _, _, _ = maskValue(in, rules)
		case 2:
			l.Input = json.RawMessage(nil)
		}
		want, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.appendJSON(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("line %+v:\n got %s (%v)\nwant %s", l, got, err, want)
		}
	}
}

// TestMaskKeyUnderInput: a mask rule that reads the request's input only
// is keyed by that input (no event built); one that also reads the
// decision is keyed by the event, and then lines with other results do
// not share its masks.
func TestMaskKeyUnderInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mask  string
		under bool
	}{
		{`mask contains "/input/arguments/id" if input.input.tool.name == "x"`, true},
		{`mask contains "/input/arguments/id" if input.result.allow`, false},
		{`mask contains "/input/arguments/id" if input.decision_id == ""`, false},
	} {
		e := loadedEngine(t, map[string]string{"authz.rego": allowAlice, "mask.rego": "package system.log\n" + tc.mask}, nil)
		reads := e.current.Load().maskReads
		if reads == nil || reads.under(kInputField) != tc.under {
			t.Errorf("%s: reads %+v, under the input: want %v", tc.mask, reads, tc.under)
		}
	}
	in, err := callInput("alice").ASTValue()
	if err != nil {
		t.Fatal(err)
	}
	e := loadedEngine(t, map[string]string{"authz.rego": allowAlice, "mask.rego": "package system.log\n" +
		`mask contains "/input/arguments/id" if input.input.tool.name`}, nil)
	reads := e.current.Load().maskReads
	event := (&record{input: in}).maskEvent()
	if reads.keyAt(in, 2) != reads.key(event) {
		t.Error("the input's key differs from its event's")
	}
}

// BenchmarkDecisionLogLine is the decision log's work for one line of a
// call the cache served (the commonest line), with the shipped library's
// mask: the input converted, masked and the line written.
func BenchmarkDecisionLogLine(b *testing.B) {
	e := libraryEngine(b)
	c := e.current.Load()
	l := NewDecisionLog(io.Discard, 16)
	defer l.Close()
	in := libraryInput(PhaseCall, "notes", "write_note")
	d := Decision{Allow: true, Reasons: []string{"group engineering grants tool notes__write_note"}}
	b.ReportAllocs()
	for b.Loop() {
		r := newRecord(context.Background(), time.Now(), in, nil, d, nil, time.Microsecond, c)
		lazy := *in
		r.lazy, r.cached = &lazy, true
		l.write(&r)
	}
}
