package policy

import (
	"crypto/sha256"
	"encoding"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputReads are the parts of the input that a query's rules can read,
// worked out from the compiled policy: a result of the query is a function
// of those parts (and the data, which belongs to the policy revision), so
// results can be shared by every input whose parts are equal. The list
// decisions (listcache.go) and the decision log's mask (mask.go) use it.
type inputReads struct {
	// paths are the references whose values the rules read, none a
	// prefix of another.
	paths []ast.Ref
	// keys are references whose objects the rules read only the keys of
	// (object.keys(input.x)), none under a path (but one may be under
	// another: each one's names are part of the key).
	keys []ast.Ref
	// pathNames and keyNames are their Rego text, for key.
	pathNames, keyNames []string
}

var objectKeysRef = ast.MustParseRef("object.keys")

// inputReads works out what the rules of ref read, or returns nil when
// their results cannot be shared: a rule reads the whole input or a
// field it computes (input[x]), uses `with`, a non-deterministic or
// unknown built-in, or one that reads the clock.
func (p *perCallRules) inputReads(ref ast.Ref) *inputReads {
	var roots []any
	for _, r := range p.compiler.GetRules(ref) {
		roots = append(roots, r)
	}
	closure := p.closure(roots...)
	for _, r := range p.compiler.GetRules(ref) {
		closure[r.Path().String()] = true
	}
	var paths, keys []ast.Ref
	for path := range closure {
		if p.clocked[path] {
			return nil
		}
		for _, rule := range p.rules[path] {
			if p.unsafe(rule) {
				return nil
			}
			keyTerms := keysOnly(rule)
			whole := false
			ast.WalkTerms(rule, func(t *ast.Term) bool {
				r, ok := t.Value.(ast.Ref)
				if !ok || !r.HasPrefix(ast.InputRootRef) {
					return whole
				}
				gp := r.GroundPrefix()
				switch {
				case len(gp) < 2:
					whole = true // the whole input, or input[x]
				case keyTerms[t] && len(gp) == len(r):
					keys = append(keys, gp)
				default:
					paths = append(paths, gp)
				}
				return whole // on into the ref: input.a[input.b] reads input.b too
			})
			if whole {
				return nil
			}
		}
	}
	lr := &inputReads{paths: minimalRefs(paths)}
	// Every keys reference counts on its own: the names of input.x say
	// nothing of the names of input.x.y. One under a path is covered.
	slices.SortFunc(keys, func(a, b ast.Ref) int { return a.Compare(b) })
	for _, k := range slices.CompactFunc(keys, func(a, b ast.Ref) bool { return a.Equal(b) }) {
		if !slices.ContainsFunc(lr.paths, func(p ast.Ref) bool { return k.HasPrefix(p) }) {
			lr.keys = append(lr.keys, k)
		}
	}
	for _, p := range lr.paths {
		lr.pathNames = append(lr.pathNames, p.String())
	}
	for _, k := range lr.keys {
		lr.keyNames = append(lr.keyNames, k.String())
	}
	return lr
}

// keysOnly returns the terms of rule that are read for their keys only:
// the argument of object.keys(input.x), which the compiler writes as
// `v = input.x; object.keys(v, out)` with v used nowhere else.
func keysOnly(rule *ast.Rule) map[*ast.Term]bool {
	terms := map[*ast.Term]bool{}
	keyVars := map[ast.Var]bool{}
	ast.WalkExprs(rule, func(e *ast.Expr) bool {
		if e.IsCall() && e.Operator().Equal(objectKeysRef) && len(e.Operands()) > 0 {
			if v, ok := e.Operand(0).Value.(ast.Var); ok {
				keyVars[v] = true
			} else {
				terms[e.Operand(0)] = true
			}
		}
		return false
	})
	ast.WalkTerms(rule, func(t *ast.Term) bool {
		if call, ok := t.Value.(ast.Call); ok && len(call) > 1 {
			if op, ok := call[0].Value.(ast.Ref); ok && op.Equal(objectKeysRef) {
				terms[call[1]] = true
			}
		}
		return false
	})
	if len(keyVars) == 0 {
		return terms
	}
	uses := map[ast.Var]int{}
	ast.WalkVars(rule, func(v ast.Var) bool {
		uses[v]++
		return false
	})
	ast.WalkExprs(rule, func(e *ast.Expr) bool {
		if !e.IsEquality() || len(e.Operands()) != 2 {
			return false
		}
		for _, pair := range [][2]*ast.Term{{e.Operand(0), e.Operand(1)}, {e.Operand(1), e.Operand(0)}} {
			v, isVar := pair[0].Value.(ast.Var)
			if _, isRef := pair[1].Value.(ast.Ref); isVar && isRef && keyVars[v] && uses[v] == 2 {
				terms[pair[1]] = true
			}
		}
		return false
	})
	return terms
}

// minimalRefs sorts refs and drops those that extend another.
func minimalRefs(refs []ast.Ref) []ast.Ref {
	slices.SortFunc(refs, func(a, b ast.Ref) int { return a.Compare(b) })
	var out []ast.Ref
	for _, r := range refs {
		if len(out) > 0 && r.HasPrefix(out[len(out)-1]) {
			continue // sorted: a prefix comes first
		}
		out = append(out, r)
	}
	return out
}

// key digests what the rules read of input: each path's value, and the
// sorted keys of each keys path's object; then extra, in order.
func (lr *inputReads) key(input ast.Value, extra ...*ast.Term) [sha256.Size]byte {
	return lr.keyAt(input, 1, extra...)
}

// under reports whether every reference of lr is under input.<field>.
func (lr *inputReads) under(field *ast.Term) bool {
	for _, refs := range [][]ast.Ref{lr.paths, lr.keys} {
		for _, r := range refs {
			if len(r) < 2 || !r[1].Equal(field) {
				return false
			}
		}
	}
	return true
}

// keyAt is key for a value found at depth skip-1 under the input: with
// skip 2 and every reference under input.<field> (under), the key of an
// input whose field is value is keyAt(value, 2).
func (lr *inputReads) keyAt(input ast.Value, skip int, extra ...*ast.Term) [sha256.Size]byte {
	h := sha256.New()
	buf := make([]byte, 0, 256)
	for i, path := range lr.paths {
		buf = append(buf[:0], lr.pathNames[i]...)
		if v, err := input.Find(path[skip:]); err == nil {
			buf = appendValue(append(buf, 1), v)
		}
		h.Write(append(buf, 0))
	}
	for i, path := range lr.keys {
		buf = append(buf[:0], lr.keyNames[i]...)
		if v, err := input.Find(path[skip:]); err == nil {
			if obj, ok := v.(ast.Object); ok {
				names := make([]string, 0, obj.Len())
				for _, k := range obj.Keys() {
					names = append(names, k.String())
				}
				slices.Sort(names)
				buf = append(append(buf, 2), strings.Join(names, ",")...)
			} else {
				buf = appendValue(append(buf, 1), v) // not an object: object.keys fails on it; any value will do
			}
		}
		h.Write(append(buf, 0))
	}
	for _, t := range extra {
		h.Write(append(appendValue(buf[:0], t.Value), 0))
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// appendValue appends v as Rego text (v.String()), without a string of
// its own.
func appendValue(buf []byte, v ast.Value) []byte {
	if a, ok := v.(encoding.TextAppender); ok {
		if out, err := a.AppendText(buf); err == nil {
			return out
		}
	}
	return append(buf, v.String()...)
}
