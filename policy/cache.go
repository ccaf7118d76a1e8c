package policy

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// DefaultCacheSize is the number of decisions the decision cache keeps
// per policy revision when Options.CacheSize is zero.
const DefaultCacheSize = 10000

// CacheKey names a request for the decision cache (Engine.DecideCached).
// The engine adds the input's phase and method, and keeps one cache per
// policy revision (modules and data), so a reload empties it.
type CacheKey struct {
	// Identity must determine input.user and input.token: a fingerprint
	// of the verified token's claims, computed once per token.
	Identity string
	// Target must determine everything else in the input except the
	// per-call fields (arguments, request, client): the server and its
	// labels, the target and its attributes, the scope catalogue. The
	// gateway uses the method, the server's name, the target's name and a
	// digest of the target's definition as the upstream sent it (server
	// labels and the scope catalogue come from the configuration, which a
	// change of restarts).
	Target string
}

// cacheKey is a CacheKey with the phase and method of the input.
type cacheKey struct{ identity, target, phase, method string }

// perCallUnknowns are the input fields that may change from one call to
// the next for the same identity and target: partial evaluation treats them
// as unknown, so a decision that reads them is never cached.
var perCallUnknowns = []*ast.Term{
	ast.MustParseTerm("input.arguments"),
	ast.MustParseTerm("input.request"),
	ast.MustParseTerm("input.client"),
}

// partialQuery binds the decision to a variable for partial evaluation.
func partialQuery(query string) string { return "x = " + query }

// learnTimeout bounds one partial evaluation (about 20 ms for the shipped
// library: OPA re-walks the rules a saved expression may reach).
const learnTimeout = 2 * time.Second

// DecideCached is Decide for a request named by key: a decision that the
// policy makes from the identity and the target alone is evaluated once per
// (key, phase, method, policy revision) and then served from a bounded
// LRU cache; a decision that reads arguments, the request (its time) or
// the client is evaluated every time. Partial evaluation with those fields
// unknown decides which is which (see docs/policy.md); it runs in the
// background, one at a time, after the first evaluation of a key, so a
// miss costs what Decide costs. Every call is still written to the
// decision log, with cached set when the cache served it. An empty
// Identity or Target is Decide. Failed decisions are never cached. The
// returned Reasons and RequiredScopes may be shared: do not modify them.
// The decision log converts a cached call's input later, from a shallow
// copy of in: do not modify the maps and slices in reaches after the call.
func (e *Engine) DecideCached(ctx context.Context, key CacheKey, in *Input) Decision {
	c := e.current.Load()
	if c == nil || c.cache == nil || in == nil || key.Identity == "" || key.Target == "" {
		return e.Decide(ctx, in)
	}
	k := cacheKey{identity: key.Identity, target: key.Target, phase: in.Phase, method: in.Method}
	hit, res, known := c.cache.lookup(k)
	if hit != nil {
		start := time.Now()
		d := *hit
		d.Cached = true
		e.settle(ctx, &d, outcome{in: in, start: start, policy: c, record: true, cached: true})
		return d
	}
	if res != nil {
		return e.decideResidual(ctx, c, in, res, true)
	}
	d, err := e.decideOn(ctx, c, in, true)
	if err == nil && !known {
		e.learn(c, k, in, d)
	}
	return d
}

// decideResidual is decideOn with the residual res of c's decision.
func (e *Engine) decideResidual(ctx context.Context, c *compiled, in *Input, res *rego.PreparedEvalQuery, record bool) Decision {
	d, _ := e.decideWith(ctx, c, in, func(*compiled) *rego.PreparedEvalQuery { return res }, residualDecision, outcome{record: record, residual: true})
	return d
}

// CheckCached is Check for a request named by key: the cached decision
// when the cache holds one for key (learned by DecideCached), else Check.
// Never logged, never learning: a look ahead only reads the cache that
// the decisions of record fill.
func (e *Engine) CheckCached(ctx context.Context, key CacheKey, in *Input) Decision {
	c := e.current.Load()
	if c == nil || c.cache == nil || in == nil || key.Identity == "" || key.Target == "" {
		return e.Check(ctx, in)
	}
	hit, res, _ := c.cache.lookup(cacheKey{identity: key.Identity, target: key.Target, phase: in.Phase, method: in.Method})
	if hit != nil {
		d := *hit
		d.ID, d.Revision, d.Cached = newDecisionID(), c.revision, true
		return d
	}
	if res != nil {
		return e.decideResidual(ctx, c, in, res, false)
	}
	return e.Check(ctx, in)
}

// CachedDecision is the decision the cache holds for key in phase and
// method, without an input: a look ahead that the cache can answer needs
// no input built. Never logged, never learning; false when the cache has
// no decision for key (none yet, a residual, or no cache).
func (e *Engine) CachedDecision(key CacheKey, phase, method string) (Decision, bool) {
	c := e.current.Load()
	if c == nil || c.cache == nil || key.Identity == "" || key.Target == "" {
		return Decision{}, false
	}
	hit, _, _ := c.cache.lookup(cacheKey{identity: key.Identity, target: key.Target, phase: phase, method: method})
	if hit == nil {
		return Decision{}, false
	}
	d := *hit
	d.ID, d.Revision, d.Cached = newDecisionID(), c.revision, true
	return d, true
}

// learn starts the partial evaluation that tells whether d, the decision
// for in, holds whatever the per-call fields, unless one is running; the
// key is then cached: with d, or as evaluated every time.
func (e *Engine) learn(c *compiled, k cacheKey, in *Input, d Decision) {
	select {
	case c.learning <- struct{}{}:
	default:
		return // busy: learn it on a later call
	}
	known := *in
	known.Arguments, known.Request, known.Client = nil, Request{}, nil
	input, err := known.ASTValue()
	if err != nil {
		<-c.learning
		return
	}
	c.cache.put(k, nil) // evaluated every time until learned
	kept := Decision{Allow: d.Allow, Reasons: d.Reasons, RequiredScopes: d.RequiredScopes, AllowUnapproved: d.AllowUnapproved}
	c.learned.Add(1)
	go func() {
		defer c.learned.Done()
		defer func() { <-c.learning }()
		// On an error the key stays "evaluated every time" for this
		// revision: a policy whose partial evaluation keeps failing must
		// not keep a core busy retrying it.
		unconditional, pq, err := e.unconditional(c, input)
		switch {
		case err != nil:
		case unconditional:
			c.cache.put(k, &kept)
		default:
			// A residual that fails to compile leaves the key evaluated
			// in full, as it was.
			if res, err := c.residual(pq); err == nil && res != nil {
				c.cache.putResidual(k, res)
			} else if err != nil {
				e.log.Debug("policy: residual not used", "err", err)
			}
		}
	}()
}

// unconditional reports whether the decision for input, which lacks the
// per-call fields, is the same whatever they are: partial evaluation with
// them unknown leaves a residual that reads none of them, calls no
// non-deterministic built-in, and uses no rule of the policy that could
// (c.perCall). On an error the answer is no.
func (e *Engine) unconditional(c *compiled, input ast.Value) (bool, *rego.PartialQueries, error) {
	ctx, cancel := context.WithTimeout(context.Background(), learnTimeout)
	defer cancel()
	if c.clockBound {
		return false, nil, errClockBound
	}
	pq, err := c.partial.Partial(ctx, rego.EvalParsedInput(input), rego.EvalTime(e.opts.Now()))
	if err != nil {
		return false, nil, err
	}
	if len(pq.Queries) == 0 {
		return false, nil, errNoResidual
	}
	for _, q := range pq.Queries {
		if c.perCall.reads(q) {
			return false, pq, nil
		}
	}
	for _, m := range pq.Support {
		if c.perCall.reads(m) {
			return false, pq, nil
		}
	}
	return true, pq, nil
}

var (
	// errClockBound: the policy's decision checks against the wall clock
	// in a way partial evaluation would fix once (readsClock).
	errClockBound = errors.New("the decision reads the clock")
	// errNoResidual: partial evaluation found the decision undefined.
	errNoResidual = errors.New("no residual")
)

// decisionCache is a bounded LRU of decisions; a nil decision means the
// request is evaluated every time (or until partial evaluation has said
// otherwise).
type decisionCache struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]*list.Element
	ll  list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	key cacheKey
	d   *Decision
	// res is the residual to evaluate when d is nil (residual.go); nil
	// when the key is evaluated in full.
	res *rego.PreparedEvalQuery
}

func newDecisionCache(size int) *decisionCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	return &decisionCache{max: size, m: make(map[cacheKey]*list.Element)}
}

func (dc *decisionCache) get(k cacheKey) (d *Decision, ok bool) {
	d, _, ok = dc.lookup(k)
	return d, ok
}

// lookup returns what the cache knows of k: a decision, a residual to
// evaluate, or neither (evaluated in full); ok is false for a key it has
// never seen.
func (dc *decisionCache) lookup(k cacheKey) (d *Decision, res *rego.PreparedEvalQuery, ok bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	el, ok := dc.m[k]
	if !ok {
		return nil, nil, false
	}
	dc.ll.MoveToFront(el)
	ent := el.Value.(*cacheEntry)
	return ent.d, ent.res, true
}

func (dc *decisionCache) put(k cacheKey, d *Decision) { dc.store(&cacheEntry{key: k, d: d}) }

func (dc *decisionCache) putResidual(k cacheKey, res *rego.PreparedEvalQuery) {
	dc.store(&cacheEntry{key: k, res: res})
}

func (dc *decisionCache) store(ent *cacheEntry) {
	k := ent.key
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if el, ok := dc.m[k]; ok {
		el.Value = ent
		dc.ll.MoveToFront(el)
		return
	}
	dc.m[k] = dc.ll.PushFront(ent)
	if dc.ll.Len() > dc.max {
		oldest := dc.ll.Back()
		dc.ll.Remove(oldest)
		delete(dc.m, oldest.Value.(*cacheEntry).key)
	}
}

// len is the number of cached requests, for tests.
func (dc *decisionCache) len() int {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.ll.Len()
}
