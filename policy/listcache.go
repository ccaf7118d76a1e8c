package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
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

var catalogRef = ast.MustParseRef("input.catalog")

// listReads is what the list query reads (inputReads) but the catalog,
// which the key of a list result has whole; nil when lists are not shared.
func (p *perCallRules) listReads(listRef ast.Ref) *inputReads {
	reads := p.inputReads(listRef)
	if reads == nil {
		return nil
	}
	inCatalog := func(r ast.Ref) bool { return r.HasPrefix(catalogRef) }
	reads.paths = slices.DeleteFunc(reads.paths, inCatalog)
	reads.keys = slices.DeleteFunc(reads.keys, inCatalog)
	return reads
}

// memo is a bounded map of results by key, for one policy revision.
type memo[V any] struct {
	mu  sync.Mutex
	max int
	m   map[[sha256.Size]byte]V
}

func (mc *memo[V]) get(k [sha256.Size]byte) (V, bool) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	v, ok := mc.m[k]
	return v, ok
}

// put keeps v; v must not change afterwards.
func (mc *memo[V]) put(k [sha256.Size]byte, v V) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.m == nil {
		mc.m = map[[sha256.Size]byte]V{}
	}
	if len(mc.m) >= mc.max {
		for old := range mc.m { // any one: a rough bound is enough here
			delete(mc.m, old)
			break
		}
	}
	mc.m[k] = v
}

// ListKey names what the list decisions of in (a list-phase input; its
// server and target are ignored) depend on under the current policy:
// callers whose inputs have the same ListKey see the same entries of any
// catalog under the policy revision returned, so they can share one view
// of it (the gateway does, for 2026-07-28 requests; DecideListShared). ok
// is false when lists are not shared (see above) or in cannot be
// converted. The key names the policy itself (not only its revision
// label, which a bundle may reuse for other content).
func (e *Engine) ListKey(in *Input) (key, revision string, ok bool) {
	c := e.current.Load()
	if c == nil || c.list == nil || c.listReads == nil || in == nil {
		return "", "", false
	}
	base := *in
	base.Server, base.Tool, base.Prompt, base.Resource = nil, nil, nil, nil
	input, err := base.ASTValue()
	if err != nil {
		return "", "", false
	}
	k := c.listReads.key(input)
	return c.listKeyPrefix() + hex.EncodeToString(k[:]), c.revision, true
}

// listKeyPrefix starts the list keys of c: its generation, which no other
// policy of the engine has (its revision label may).
func (c *compiled) listKeyPrefix() string { return strconv.FormatUint(c.generation, 10) + "/" }
