package policy

import (
	"crypto/sha256"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A list decision (DecideList) is made once per view, so a new caller
// pays for a whole catalog's evaluation before their first list. Most
// callers share what a list decision reads, though: the shipped library's
// reads the caller's groups and nothing else of who they are. The engine
// works out, when the policy loads, which input fields the list query can
// read (listReads), and keeps the visible entries by those fields' values
// and the catalog: a caller whose groups (say) another caller had gets the
// list decided for them without an evaluation, still logged ("cached":
// true). A list query that reads the whole input, a field it computes,
// uses `with`, or a built-in that is not deterministic is never shared.

// maxListResults bounds the list results one policy revision keeps.
const maxListResults = 1024

// listReads are the input fields the list query reads.
type listReads struct {
	// paths are the references (input.user.groups, …) the query's rules
	// read, none a prefix of another, without input.catalog: the key has
	// the catalog itself.
	paths []ast.Ref
}

var catalogRef = ast.MustParseRef("input.catalog")

// newListReads works out what the rules of listRef read, or returns nil
// when the list decisions cannot be shared (see above).
func (p *perCallRules) newListReads(listRef ast.Ref) *listReads {
	var rules []any
	for _, r := range p.compiler.GetRules(listRef) {
		rules = append(rules, r)
	}
	closure := p.closure(rules...)
	for _, r := range p.compiler.GetRules(listRef) {
		closure[r.Path().String()] = true
	}
	var paths []ast.Ref
	shared := true
	for path := range closure {
		if p.clocked[path] {
			return nil
		}
		for _, rule := range p.rules[path] {
			if p.unsafe(rule) {
				return nil
			}
			ast.WalkRefs(rule, func(r ast.Ref) bool {
				if r.HasPrefix(ast.InputRootRef) {
					gp := r.GroundPrefix()
					if len(gp) < 2 {
						shared = false // the whole input, or input[x]
					}
					paths = append(paths, gp)
				}
				return !shared
			})
			if !shared {
				return nil
			}
		}
	}
	slices.SortFunc(paths, func(a, b ast.Ref) int { return a.Compare(b) })
	var minimal []ast.Ref
	for _, path := range paths {
		if len(minimal) > 0 && path.HasPrefix(minimal[len(minimal)-1]) {
			continue // sorted: a prefix comes first
		}
		minimal = append(minimal, path)
	}
	lr := &listReads{}
	for _, path := range minimal {
		if catalogRef.HasPrefix(path) && !path.Equal(catalogRef) {
			return nil // reads a part of the input that holds the catalog
		}
		if !path.HasPrefix(catalogRef) {
			lr.paths = append(lr.paths, path)
		}
	}
	return lr
}

// key is the list result's key for input (without the catalog) and the
// catalog terms: the values of the fields the query reads, and every entry.
func (lr *listReads) key(input ast.Value, catalog []*ast.Term) [sha256.Size]byte {
	h := sha256.New()
	for _, path := range lr.paths {
		h.Write([]byte(path.String()))
		if v, err := input.Find(path[1:]); err == nil {
			h.Write([]byte{1})
			h.Write([]byte(v.String()))
		}
		h.Write([]byte{0})
	}
	for _, t := range catalog {
		h.Write([]byte(t.String()))
		h.Write([]byte{0})
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// listResults are the list results of one policy revision.
type listResults struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte][]bool
}

func (lc *listResults) get(k [sha256.Size]byte) []bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.m[k]
}

func (lc *listResults) put(k [sha256.Size]byte, visible []bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.m == nil {
		lc.m = map[[sha256.Size]byte][]bool{}
	}
	if len(lc.m) >= maxListResults {
		for old := range lc.m { // any one: a rough bound is enough here
			delete(lc.m, old)
			break
		}
	}
	lc.m[k] = slices.Clone(visible)
}
