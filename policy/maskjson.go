package policy

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// maskJSON is maskValue written straight from the input's AST to JSON:
// the same bytes json.Marshal writes for maskValue's result (none for a
// nil one), without converting the input to Go values first (most of a
// decision-log line's cost, BenchmarkMaskJSON). It takes the common case
// only — rules that remove or replace values found through objects, none
// under another — and reports !ok for the rest (an upsert that creates, a
// path through an array, a set or a key that is not a string), which
// maskValue then masks.
func maskJSON(in ast.Value, rules []maskRule) (input json.RawMessage, erased, masked []string, ok bool) {
	if rules == nil {
		if rules, ok = argumentMask(in); !ok {
			return nil, nil, nil, false
		}
	}
	root := &maskNode{}
	for i := range rules {
		node, fine := root.add(&rules[i])
		if !fine {
			return nil, nil, nil, false
		}
		if node.applied, fine = appliesTo(in, &rules[i]); !fine {
			return nil, nil, nil, false
		}
		switch {
		case !node.applied:
		case rules[i].upsert:
			masked = append(masked, rules[i].path)
		default:
			erased = append(erased, rules[i].path)
		}
	}
	whole := root.children["input"]
	if whole != nil && whole.rule != nil { // "/input" itself, the only rule
		if !whole.rule.upsert || whole.rule.value == nil {
			return nil, erased, masked, true // no input, as maskValue's nil
		}
		bs, err := json.Marshal(whole.rule.value)
		return bs, erased, masked, err == nil
	}
	if _, null := in.(ast.Null); null {
		return nil, erased, masked, true
	}
	w := jsonWriter{buf: make([]byte, 0, 1024)}
	if !w.value(in, whole) {
		return nil, nil, nil, false
	}
	return w.buf, erased, masked, true
}

// argumentMask is defaultMask as rules: every argument's value replaced
// by MaskedValue, in name order; !ok when an argument's key is not a
// string (maskValue never masks such an input: ast.JSON refuses it).
func argumentMask(input ast.Value) (rules []maskRule, ok bool) {
	in, isObject := input.(ast.Object)
	if !isObject {
		return nil, true
	}
	args := in.Get(ast.InternedTerm("arguments"))
	if args == nil {
		return nil, true
	}
	obj, isObject := args.Value.(ast.Object)
	if !isObject {
		return nil, true
	}
	names := make([]string, 0, obj.Len())
	for _, k := range obj.Keys() {
		s, isString := k.Value.(ast.String)
		if !isString {
			return nil, false
		}
		names = append(names, string(s))
	}
	slices.Sort(names)
	rules = make([]maskRule, len(names))
	for i, name := range names {
		rules[i] = maskRule{path: "/input/arguments/" + url.PathEscape(name), parts: []string{"input", "arguments", name}, upsert: true, value: MaskedValue}
	}
	return rules, true
}

// maskNode is the rules of a mask as a tree of object keys: a node holds
// a rule or children, never both; applied says whether its rule applies.
type maskNode struct {
	rule     *maskRule
	applied  bool
	children map[string]*maskNode
}

// add puts rule in the tree and returns its node; false when its path is
// another's, or under or over another's.
func (n *maskNode) add(rule *maskRule) (*maskNode, bool) {
	node := n
	for _, part := range rule.parts {
		if node.rule != nil {
			return nil, false
		}
		if node.children == nil {
			node.children = map[string]*maskNode{}
		}
		child := node.children[part]
		if child == nil {
			child = &maskNode{}
			node.children[part] = child
		}
		node = child
	}
	if node.rule != nil || node.children != nil {
		return nil, false
	}
	node.rule = rule
	return node, true
}

// appliesTo reports whether rule applies to input as maskRule.apply does
// (applied), and whether this writer can apply it (fine): a path through
// objects to a value that exists, or to none for a removal.
func appliesTo(input ast.Value, rule *maskRule) (applied, fine bool) {
	node := input
	for _, part := range rule.parts[1:] {
		switch n := node.(type) {
		case ast.Object:
			child := n.Get(ast.InternedTerm(part))
			if child == nil {
				// A removal of nothing changes nothing; an upsert would
				// create the value (and the objects on the way).
				return false, !rule.upsert
			}
			node = child.Value
		case *ast.Array, ast.Set:
			return false, false
		default:
			return false, true // under a scalar: neither removeAt nor upsertAt applies
		}
	}
	return true, true
}

// jsonWriter writes an AST value as encoding/json writes what ast.JSON
// makes of it: objects with their keys sorted, strings escaped the same
// way (HTML characters included), with the applied rules of a mask tree.
type jsonWriter struct {
	buf []byte
}

func (w *jsonWriter) value(v ast.Value, mask *maskNode) bool {
	switch v := v.(type) {
	case ast.Null:
		w.buf = append(w.buf, "null"...)
	case ast.Boolean:
		if v {
			w.buf = append(w.buf, "true"...)
		} else {
			w.buf = append(w.buf, "false"...)
		}
	case ast.Number:
		if !validNumber(string(v)) {
			return false
		}
		w.buf = append(w.buf, v...)
	case ast.String:
		w.str(string(v))
	case *ast.Array:
		w.buf = append(w.buf, '[')
		for i := range v.Len() {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			if !w.value(v.Elem(i).Value, nil) {
				return false
			}
		}
		w.buf = append(w.buf, ']')
	case ast.Object:
		return w.object(v, mask)
	default:
		return false
	}
	return true
}

func (w *jsonWriter) object(o ast.Object, mask *maskNode) bool {
	w.buf = append(w.buf, '{')
	first := true
	// In key order (Until's), which for string keys is encoding/json's.
	failed := o.Until(func(kt, vt *ast.Term) bool {
		k, ok := kt.Value.(ast.String)
		if !ok {
			return true
		}
		var child *maskNode
		if mask != nil {
			child = mask.children[string(k)]
		}
		if child != nil && child.applied && !child.rule.upsert {
			return false // removed
		}
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		w.str(string(k))
		w.buf = append(w.buf, ':')
		if child != nil && child.applied {
			bs, err := json.Marshal(child.rule.value)
			w.buf = append(w.buf, bs...)
			return err != nil
		}
		return !w.value(vt.Value, child)
	})
	w.buf = append(w.buf, '}')
	return !failed
}

// str writes s as a JSON string, as encoding/json does.
func (w *jsonWriter) str(s string) {
	if plainJSONString(s) {
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '"')
		return
	}
	bs, _ := json.Marshal(s) // a string always encodes
	w.buf = append(w.buf, bs...)
}

// plainJSONString: s is printable ASCII that encoding/json writes as it
// is (no quote, backslash or HTML character to escape).
func plainJSONString(s string) bool {
	for i := range len(s) {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// validNumber reports whether s is a JSON number (encoding/json refuses
// to write a json.Number that is not).
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = strings.TrimLeft(s, "0123456789")
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		s = strings.TrimLeft(s[2:], "0123456789")
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		if !isDigit(s[0]) {
			return false
		}
		s = strings.TrimLeft(s, "0123456789")
	}
	return s == ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
