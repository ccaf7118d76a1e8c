package policy

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Bounds of what the decision log records: a caller chooses the size of
// its arguments, tool names and resource URIs, and a decision-log line must
// not be a multiple of the request (nor the queue of pending lines hold
// many megabytes per decision). Whatever is cut says so in the line
// ("truncated", "input_omitted"); nothing is cut silently.
const (
	// maxLoggedString is the longest string value kept, in bytes; a longer
	// one keeps its beginning and says how much was cut.
	maxLoggedString = 1 << 10
	// maxLoggedItems is the most elements of an array or keys of an object
	// kept.
	maxLoggedItems = 256
	// maxLoggedPointers is the most truncated places a line lists.
	maxLoggedPointers = 32
	// maxLoggedReasons is the most reasons a line keeps.
	maxLoggedReasons = 32
	// maxLoggedLine is the largest line written: past it, the input is
	// left out of the line (and the line says so).
	maxLoggedLine = 64 << 10
)

// truncateString cuts s to maxLoggedString bytes on a character boundary
// and says what was cut; it reports whether it cut.
func truncateString(s string) (string, bool) { return truncateTo(s, maxLoggedString) }

// truncateTo cuts s to at most limit bytes, as truncateString.
func truncateTo(s string, limit int) (string, bool) {
	if len(s) <= limit {
		return s, false
	}
	cut := max(limit, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…[truncated: %d of %d bytes]", s[:cut], len(s)-cut, len(s)), true
}

// boundStrings bounds a list of strings (reasons): each string and their
// number.
func boundStrings(list []string) []string {
	return boundStringsTo(list, maxLoggedReasons, maxLoggedString)
}

// boundStringsTo is boundStrings with n strings of limit bytes at most.
func boundStringsTo(list []string, n, limit int) []string {
	if len(list) == 0 {
		return list
	}
	out := make([]string, 0, min(len(list), n+1))
	for i, s := range list {
		if i == n {
			out = append(out, fmt.Sprintf("…[truncated: %d more]", len(list)-i))
			break
		}
		s, _ = truncateTo(s, limit)
		out = append(out, s)
	}
	return out
}

// bounder copies an input value within the bounds, noting where it cut.
// Besides the bounds per value, it keeps a budget for the whole input, so
// that many values of the largest size, or deep nesting, are cut too.
type bounder struct {
	budget    int      // bytes of strings and items still to keep; set by bound's caller
	path      []string // the segments down to the value being bounded
	truncated []string // JSON pointers
	more      int      // cut places not listed
}

// note records the value at path, or its child segment when not "", as
// cut.
func (b *bounder) note(child string) {
	if len(b.truncated) >= maxLoggedPointers {
		b.more++
		return
	}
	var p strings.Builder
	for _, seg := range b.path {
		p.WriteString("/" + escapePointer(seg))
	}
	if child != "" {
		p.WriteString("/" + escapePointer(child))
	}
	b.truncated = append(b.truncated, p.String())
}

// pointers returns the JSON pointers of the cut places, with a last entry
// counting those not listed.
func (b *bounder) pointers() []string {
	if b.more > 0 {
		return append(b.truncated, fmt.Sprintf("…and %d more", b.more))
	}
	return b.truncated
}

// bound returns v within the bounds and whether it cut anything; v itself
// when nothing was cut (so a decision of ordinary size costs a walk, no
// copy).
func (b *bounder) bound(v ast.Value) (ast.Value, bool) {
	switch x := v.(type) {
	case ast.String:
		s, cut := truncateTo(string(x), min(maxLoggedString, b.budget))
		b.budget -= len(s)
		if cut {
			b.note("")
			return ast.String(s), true
		}
	case ast.Object:
		return b.object(x)
	case *ast.Array:
		return b.array(x)
	}
	return v, false
}

// fits reports whether v is within the bounds as it is, spending the
// budget as bound does: the common case, walked without paths, copies or
// allocations.
func (b *bounder) fits(v ast.Value) bool {
	switch x := v.(type) {
	case ast.String:
		if len(x) > min(maxLoggedString, b.budget) {
			return false
		}
		b.budget -= len(x)
	case ast.Object:
		i := 0
		return !x.Until(func(k, val *ast.Term) bool {
			b.budget -= 8
			if i == maxLoggedItems || b.budget < 0 {
				return true
			}
			i++
			if s, ok := k.Value.(ast.String); ok && len(s) > maxLoggedString {
				return true
			}
			return !b.fits(val.Value)
		})
	case *ast.Array:
		for i := range x.Len() {
			b.budget -= 8
			if i == maxLoggedItems || b.budget < 0 || !b.fits(x.Elem(i).Value) {
				return false
			}
		}
	}
	return true
}

// child bounds v, the value at segment seg of the current path.
func (b *bounder) child(v ast.Value, seg string) (ast.Value, bool) {
	b.path = append(b.path, seg)
	defer func() { b.path = b.path[:len(b.path)-1] }()
	return b.bound(v)
}

func (b *bounder) object(o ast.Object) (ast.Value, bool) {
	keys := o.Keys()
	var terms [][2]*ast.Term // nil until something is cut
	for i, k := range keys {
		b.budget -= 8
		if i == maxLoggedItems || b.budget < 0 {
			b.note("")
			if terms == nil {
				terms = keep(keys[:i], o)
			}
			break
		}
		name, isString := k.Value.(ast.String)
		bounded, cut := b.child(o.Get(k).Value, string(name))
		key := k
		if isString {
			if t, keyCut := truncateString(string(name)); keyCut {
				key, cut = ast.StringTerm(t), true
				b.note(t)
			}
		}
		if cut && terms == nil {
			terms = keep(keys[:i], o)
		}
		if terms != nil {
			terms = append(terms, [2]*ast.Term{key, ast.NewTerm(bounded)})
		}
	}
	if terms == nil {
		return o, false
	}
	return ast.NewObject(terms...), true
}

// keep returns the entries of o under keys, unchanged.
func keep(keys []*ast.Term, o ast.Object) [][2]*ast.Term {
	terms := make([][2]*ast.Term, 0, min(o.Len(), maxLoggedItems))
	for _, k := range keys {
		terms = append(terms, [2]*ast.Term{k, o.Get(k)})
	}
	return terms
}

func (b *bounder) array(a *ast.Array) (ast.Value, bool) {
	n := a.Len()
	var terms []*ast.Term // nil until something is cut
	for i := 0; i < n; i++ {
		b.budget -= 8
		if i == maxLoggedItems || b.budget < 0 {
			b.note("")
			if terms == nil {
				terms = firstElems(a, i)
			}
			break
		}
		bounded, cut := b.child(a.Elem(i).Value, strconv.Itoa(i))
		if cut && terms == nil {
			terms = firstElems(a, i)
		}
		if terms != nil {
			terms = append(terms, ast.NewTerm(bounded))
		}
	}
	if terms == nil {
		return a, false
	}
	return ast.NewArray(terms...), true
}

// firstElems returns the first n elements of a, unchanged.
func firstElems(a *ast.Array, n int) []*ast.Term {
	terms := make([]*ast.Term, 0, min(a.Len(), maxLoggedItems))
	for j := 0; j < n; j++ {
		terms = append(terms, a.Elem(j))
	}
	return terms
}

// escapePointer escapes a JSON pointer segment (RFC 6901).
func escapePointer(s string) string { return pointerEscaper.Replace(s) }

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")
