package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// DefaultListQuery is the set of visible catalog entries (DecideList).
const DefaultListQuery = "data.mcpgate.authz.visible"

var kCatalog = ast.StringTerm("catalog")

// ListEntry is one entry of the catalog a list view is decided for: the
// server and exactly one target, as a list-phase Input carries them.
type ListEntry struct {
	Server   *Server
	Tool     *Tool
	Prompt   *Prompt
	Resource *Resource
}

func (l *ListEntry) astValue() ast.Value {
	b := fields(2)
	if l.Server != nil {
		b.add(kServer, l.Server.astValue())
	}
	in := Input{Tool: l.Tool, Prompt: l.Prompt, Resource: l.Resource}
	in.addTargets(&b)
	return b.object()
}

// ListCatalog is a catalog prepared for list decisions: its entries
// converted to policy values and digested once, so that the many callers
// who list the same catalog pay for neither (the gateway prepares one per
// catalog revision and kind). Immutable; safe for concurrent use.
type ListCatalog struct {
	entries []ListEntry
	array   *ast.Term // input.catalog
	digest  *ast.Term // names the entries in a list key
}

// NewListCatalog prepares entries, which must not change afterwards.
func NewListCatalog(entries []ListEntry) *ListCatalog {
	terms := make([]*ast.Term, len(entries))
	h := sha256.New()
	var buf []byte
	for i := range entries {
		terms[i] = ast.NewTerm(entries[i].astValue())
		buf = append(appendValue(buf[:0], terms[i].Value), 0)
		h.Write(buf)
	}
	return &ListCatalog{entries: entries, array: ast.ArrayTerm(terms...), digest: ast.StringTerm(hex.EncodeToString(h.Sum(nil)))}
}

// emptyCatalog stands for a nil *ListCatalog.
var emptyCatalog = NewListCatalog(nil)

// DecideList decides the list phase for a whole catalog: visible[i] says
// whether the catalog's entry i may appear in the caller's lists, as
// Decide would say for in with the entry's server and target. in is the
// list-phase input without server and target (they are ignored). With a
// policy that defines Options.ListQuery (the shipped library does) this is
// one evaluation and one decision-log line, whose input carries the
// catalog as input.catalog; otherwise it is one Decide per entry. A list
// evaluation that times out (a large catalog) is followed by one Decide
// per entry. Every other failure hides every entry: no policy, an
// evaluation error, a result that is not a set or array of entry indexes.
func (e *Engine) DecideList(ctx context.Context, in *Input, cat *ListCatalog) []bool {
	visible, _ := e.decideList(ctx, e.current.Load(), in, cat, true)
	return visible
}

// CheckList is DecideList as a look ahead (the console's explorer):
// nothing is logged, and no list decision is kept for others.
func (e *Engine) CheckList(ctx context.Context, in *Input, cat *ListCatalog) []bool {
	visible, _ := e.decideList(ctx, e.current.Load(), in, cat, false)
	return visible
}

// DecideListShared is DecideList for a view that the callers of in's
// ListKey share: ok is false, and the result must not be shared, unless it
// is the list query's under the policy that gave key (another policy has
// come since, the evaluation failed, or it timed out and the entries were
// decided one by one with in's whole input).
func (e *Engine) DecideListShared(ctx context.Context, key string, in *Input, cat *ListCatalog) (visible []bool, ok bool) {
	if cat == nil {
		cat = emptyCatalog
	}
	c := e.current.Load()
	if c == nil || c.listReads == nil || !strings.HasPrefix(key, c.listKeyPrefix()) {
		return make([]bool, len(cat.entries)), false
	}
	return e.decideList(ctx, c, in, cat, true)
}

// decideList is DecideList with the policy c; ok says whether the list
// query decided (or its kept result served). A list that is not record
// (CheckList) is neither logged nor kept.
func (e *Engine) decideList(ctx context.Context, c *compiled, in *Input, cat *ListCatalog, record bool) (visible []bool, ok bool) {
	if cat == nil {
		cat = emptyCatalog
	}
	entries := cat.entries
	visible = make([]bool, len(entries))
	if c == nil || c.list == nil || in == nil {
		for i := range entries {
			visible[i] = e.decide(ctx, entryInput(in, &entries[i]), record).Allow
		}
		return visible, false
	}
	start := time.Now()
	base := *in
	base.Server, base.Tool, base.Prompt, base.Resource = nil, nil, nil, nil
	var key [sha256.Size]byte
	keyed := false
	if c.listReads != nil {
		if input, err := base.ASTValue(); err == nil {
			key, keyed = c.listReads.key(input, cat.digest), true
			if hit, ok := c.lists.get(key); ok {
				copy(visible, hit)
				d := listDecision(visible)
				// Logged with the catalog, as an evaluated list is.
				logged, _ := withCatalog(input, cat.array)
				e.settle(ctx, &d, outcome{in: &base, input: logged, start: start, policy: c, record: record, path: c.listPath, cached: true})
				return visible, true
			}
		}
	}
	// A list decision waits for its slot as long as ctx lasts: what it
	// hides stays hidden until the catalog or the policy changes, so a
	// burst must slow it, not decide it.
	input, rs, err := e.evaluateWith(ctx, c, &base, c.list, func(v ast.Value) (ast.Value, error) {
		return withCatalog(v, cat.array)
	}, 0)
	if err == nil {
		err = readVisible(rs, visible)
	}
	if err == nil && keyed && record {
		c.lists.put(key, slices.Clone(visible))
	}
	d := listDecision(visible)
	if err != nil {
		clear(visible)
		d = Decision{Reasons: []string{reason(err)}}
	}
	e.settle(ctx, &d, outcome{in: &base, input: input, err: err, start: start, policy: c, record: record, path: c.listPath})
	if errors.Is(err, ErrTimeout) && ctx.Err() == nil {
		// A catalog too large to decide within one decision's timeout is
		// decided entry by entry, each within its own: hiding every entry
		// would last until the catalog or the policy changed.
		for i := range entries {
			visible[i] = e.decide(ctx, entryInput(in, &entries[i]), record).Allow
		}
	}
	return visible, err == nil
}

// entryInput is in with the entry's server and target.
func entryInput(in *Input, entry *ListEntry) *Input {
	if in == nil {
		return nil
	}
	one := *in
	one.Server, one.Tool, one.Prompt, one.Resource = entry.Server, entry.Tool, entry.Prompt, entry.Resource
	return &one
}

func withCatalog(input ast.Value, catalog *ast.Term) (ast.Value, error) {
	obj, ok := input.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("input is %T, not an object", input)
	}
	obj.Insert(kCatalog, catalog)
	return obj, nil
}

// listDecision is the decision-log record of a list: allowed when an entry
// is visible.
func listDecision(visible []bool) Decision {
	shown := 0
	for _, v := range visible {
		if v {
			shown++
		}
	}
	return Decision{Allow: shown > 0, Reasons: []string{fmt.Sprintf("%d of %d catalog entries visible", shown, len(visible))}}
}

// readVisible marks the indexes the result lists in visible.
func readVisible(rs rego.ResultSet, visible []bool) error {
	if len(rs) == 0 {
		return ErrUndefined
	}
	if len(rs) > 1 || len(rs[0].Expressions) != 1 {
		return fmt.Errorf("%w: %d results", ErrMalformed, len(rs))
	}
	var elems []*ast.Term
	switch v := rs[0].Expressions[0].Value.(type) {
	case ast.Set:
		elems = v.Slice()
	case *ast.Array:
		for i := range v.Len() {
			elems = append(elems, v.Elem(i))
		}
	default:
		return fmt.Errorf("%w: visible must be a set or array of catalog indexes", ErrMalformed)
	}
	for _, t := range elems {
		n, ok := t.Value.(ast.Number)
		if !ok {
			return fmt.Errorf("%w: visible must contain catalog indexes only", ErrMalformed)
		}
		i, ok := n.Int()
		if !ok || i < 0 || i >= len(visible) {
			return fmt.Errorf("%w: visible must contain catalog indexes only", ErrMalformed)
		}
		visible[i] = true
	}
	return nil
}
