package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// MaskedValue replaces every argument value in the decision log when the
// policy defines no data.system.log.mask rule.
const MaskedValue = "[masked]"

var errMaskRule = errors.New("mask rule")

// kInputField is the event's field that holds the request's input.
var kInputField = ast.StringTerm("input")

// The decision log masks each line's input (record.line): without a mask
// rule, or when the rule is undefined or fails, argument values are
// replaced by MaskedValue (keys kept). With one, the rule decides, as
// OPA's decision-log masking does: it sees the event as input (the
// request's input at input.input) and returns JSON pointers to erase
// ("/input/arguments/password") or {"op": "upsert", "path": …, "value": …}.
// Only /input pointers apply: the line has no result object. Pointer
// segments are URL path-unescaped.

// maskRules are the mask rules of r's policy for r; nil when it has none,
// or when the rule was undefined or failed (logged): every argument is
// then masked.
func (r *record) maskRules(log *slog.Logger) []maskRule {
	if r.policy == nil || r.policy.mask == nil {
		return nil
	}
	rules, err := evalMask(r)
	if err != nil {
		log.Warn("policy: decision log: mask rule failed; masking all arguments",
			slog.String("decision_id", r.decisionID), slog.String("error", err.Error()))
		return nil
	}
	return rules
}

// maskValue is input as Go values with rules applied, in order (nil
// rules: every argument masked).
func maskValue(in ast.Value, rules []maskRule) (input any, erased, masked []string, err error) {
	doc, err := ast.JSON(in)
	if err != nil {
		return nil, nil, nil, err
	}
	if rules == nil {
		return doc, nil, defaultMask(doc), nil
	}
	event := map[string]any{"input": doc}
	for _, rule := range rules {
		if rule.apply(event) {
			if rule.upsert {
				masked = append(masked, rule.path)
			} else {
				erased = append(erased, rule.path)
			}
		}
	}
	return event["input"], erased, masked, nil
}

// defaultMask replaces argument values by MaskedValue, in place.
func defaultMask(doc any) (masked []string) {
	in, _ := doc.(map[string]any)
	args, _ := in["arguments"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(args)) {
		args[k] = MaskedValue
		masked = append(masked, "/input/arguments/"+url.PathEscape(k))
	}
	return masked
}

// maxMaskResults bounds the mask results one policy revision keeps, and
// maxSharedMaskBytes the size of one that is kept: a result with one
// pointer per argument name of a request full of names is not worth
// keeping, and 4,096 of them would hold gigabytes.
const (
	maxMaskResults     = 4096
	maxSharedMaskBytes = 4 << 10
)

// evalMask runs the mask rule; nil rules mean it was undefined. A mask
// rule that reads named fields only (inputReads; the shipped library's
// reads the target and the arguments' names) is evaluated once per shape
// of event, and its result reused for every line of that shape.
func evalMask(r *record) ([]maskRule, error) {
	c := r.policy
	var event ast.Value
	var key [sha256.Size]byte
	if c.maskReads != nil {
		if c.maskReads.under(kInputField) {
			// The rule reads the request's input only (the shipped
			// library's does): no event to build for a line whose shape
			// was masked before.
			key = c.maskReads.keyAt(r.input, 2)
		} else {
			event = r.maskEvent()
			key = c.maskReads.key(event)
		}
		if rules, ok := c.masks.get(key); ok {
			return rules, nil
		}
	}
	if event == nil {
		event = r.maskEvent()
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	rs, err := c.mask.Eval(ctx, rego.EvalParsedInput(event))
	if err != nil {
		return nil, err
	}
	var rules []maskRule
	if len(rs) > 0 && len(rs[0].Expressions) > 0 {
		if rules, err = parseMaskRules(rs[0].Expressions[0].Value); err != nil {
			return nil, err
		}
	}
	if c.maskReads != nil && shareable(rules) {
		c.masks.put(key, rules)
	}
	return rules, nil
}

// shareable reports whether rules may be kept for other lines: small
// (maxSharedMaskBytes of pointers and values), and no rule upserts an
// object or array, which a later rule could change in place.
func shareable(rules []maskRule) bool {
	size := 0
	for _, rule := range rules {
		size += len(rule.path) + 64
		switch v := rule.value.(type) {
		case map[string]any, []any:
			return false
		case string:
			size += len(v)
		}
	}
	return size <= maxSharedMaskBytes
}

// maskEvent is the input of the mask rule, shaped like OPA's event.
func (r *record) maskEvent() ast.Value {
	result := ast.NewObject(
		ast.Item(kAllow, ast.InternedTerm(r.allow)),
		ast.Item(kReasons, ast.NewTerm(stringArray(r.reasons))),
	)
	return ast.NewObject(
		ast.Item(ast.StringTerm("decision_id"), ast.StringTerm(r.decisionID)),
		ast.Item(ast.StringTerm("trace_id"), ast.StringTerm(r.traceID)),
		ast.Item(ast.StringTerm("path"), ast.StringTerm(r.path)),
		ast.Item(kInputField, ast.NewTerm(r.input)),
		ast.Item(ast.StringTerm("result"), ast.NewTerm(result)),
	)
}

type maskRule struct {
	path   string   // as written
	parts  []string // unescaped segments, parts[0] == "input"
	upsert bool
	value  any
}

// parseMaskRules reads a set (or array) of pointers and upsert objects.
func parseMaskRules(v any) ([]maskRule, error) {
	raw, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: want a set of rules, got %T", errMaskRule, v)
	}
	rules := make([]maskRule, 0, len(raw))
	for _, x := range raw {
		rule, err := parseMaskRule(x)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

func parseMaskRule(x any) (maskRule, error) {
	var rule maskRule
	switch x := x.(type) {
	case string:
		rule.path = x
	case map[string]any:
		op, _ := x["op"].(string)
		rule.path, _ = x["path"].(string)
		rule.value = x["value"]
		switch op {
		case "", "remove":
		case "upsert":
			rule.upsert = true
		default:
			return rule, fmt.Errorf("%w: op %q: must be remove or upsert", errMaskRule, op)
		}
	default:
		return rule, fmt.Errorf("%w: %T: must be a string or an object", errMaskRule, x)
	}
	if !strings.HasPrefix(rule.path, "/input") {
		return rule, fmt.Errorf("%w: path %q: must start with /input", errMaskRule, rule.path)
	}
	for _, p := range strings.Split(rule.path[1:], "/") {
		s, err := url.PathUnescape(p)
		if err != nil {
			return rule, fmt.Errorf("%w: path %q: %w", errMaskRule, rule.path, err)
		}
		rule.parts = append(rule.parts, s)
	}
	if rule.parts[0] != "input" {
		return rule, fmt.Errorf("%w: path %q: must start with /input", errMaskRule, rule.path)
	}
	return rule, nil
}

// apply masks event in place and reports whether the path existed (remove)
// or could be written (upsert).
func (m maskRule) apply(event map[string]any) bool {
	if m.upsert {
		_, ok := upsertAt(event, m.parts, m.value)
		return ok
	}
	_, ok := removeAt(event, m.parts)
	return ok
}

// removeAt deletes the node at parts under node and returns the new node.
func removeAt(node any, parts []string) (any, bool) {
	switch n := node.(type) {
	case map[string]any:
		child, ok := n[parts[0]]
		if !ok {
			return n, false
		}
		if len(parts) == 1 {
			delete(n, parts[0])
			return n, true
		}
		child, ok = removeAt(child, parts[1:])
		n[parts[0]] = child
		return n, ok
	case []any:
		i, err := strconv.Atoi(parts[0])
		if err != nil || i < 0 || i >= len(n) {
			return n, false
		}
		if len(parts) == 1 {
			return slices.Delete(n, i, i+1), true
		}
		child, ok := removeAt(n[i], parts[1:])
		n[i] = child
		return n, ok
	}
	return node, false
}

// upsertAt sets the node at parts, creating objects on the way.
func upsertAt(node any, parts []string, value any) (any, bool) {
	switch n := node.(type) {
	case map[string]any:
		if len(parts) == 1 {
			n[parts[0]] = value
			return n, true
		}
		child, ok := n[parts[0]]
		if !ok {
			child = map[string]any{}
		}
		if child, ok = upsertAt(child, parts[1:], value); ok {
			n[parts[0]] = child
		}
		return n, ok
	case []any:
		i, err := strconv.Atoi(parts[0])
		if err != nil || i < 0 || i >= len(n) {
			return n, false
		}
		if len(parts) == 1 {
			n[i] = value
			return n, true
		}
		child, ok := upsertAt(n[i], parts[1:], value)
		n[i] = child
		return n, ok
	}
	return node, false
}
