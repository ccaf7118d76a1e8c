package policy

import (
	"errors"
	"log/slog"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage"
)

// Defaults for Options.
const (
	// DefaultQuery is the decision every request is evaluated against.
	DefaultQuery = "data.mcpgate.authz.decision"
	// DefaultTimeout bounds one evaluation. An evaluation of the shipped
	// library takes about a millisecond of CPU, but the timeout is wall
	// time: under a burst an evaluation waits for the CPU, and at 100 ms
	// (the default before issue #17) the soak's cold start denied a dozen
	// calls in 1.8 million. A runaway policy is still stopped in a second.
	DefaultTimeout = time.Second
)

// Options configure an Engine. The zero value is usable.
type Options struct {
	// Query is the Rego query that yields the decision object.
	// If empty, defaults to DefaultQuery.
	Query string
	// GrantQuery is the Rego query that yields the scope grants (Grant).
	// A policy need not define it: without it every grant fails closed.
	// If empty, defaults to DefaultGrantQuery.
	GrantQuery string
	// UpstreamScopesQuery is the Rego query that yields the scopes asked of
	// an upstream's authorization server (UpstreamScopes). A policy need
	// not define it: without it every upstream credential is asked for no
	// scope. If empty, defaults to DefaultUpstreamScopesQuery.
	UpstreamScopesQuery string
	// ListQuery is the Rego query that yields the visible entries of a
	// catalog (DecideList). A policy need not define it: without it
	// DecideList makes one decision per entry. If empty, defaults to
	// DefaultListQuery.
	ListQuery string
	// Timeout bounds one evaluation; a decision that takes longer denies
	// with ReasonTimeout. If zero, defaults to DefaultTimeout.
	Timeout time.Duration
	// Logger receives failures (never raw inputs). If nil, slog.Default().
	Logger *slog.Logger
	// DecisionLog receives every decision. If nil, decisions are not
	// logged (tests), unless UseBundles configures OPA decision logs.
	DecisionLog *DecisionLog
	// Recent, if not nil, keeps the latest decisions of record in memory
	// (the console's Decisions page); look-aheads (Check) are not kept.
	Recent *Recent
	// Library holds Rego v1 modules (file name → source) that LoadDir
	// compiles together with the directory's files: a policy library that
	// the directory's data drives, such as mcpgate's built-in one
	// (rego.Library, without its demo data). A directory file with the name
	// of a library module is a load error. Reloads (WatchDir) keep the
	// library. If nil, LoadDir loads the directory alone.
	Library map[string]string
	// MaxConcurrentEvaluations bounds the evaluations that run at once;
	// the others wait for a slot, and Timeout starts when one has it, so
	// that a burst of requests (a cold cache, a policy reload) does not
	// turn CPU queueing into timeouts. A decision that waits longer than
	// QueueWait for a slot denies with ErrBusy. If zero, defaults to
	// 4 × GOMAXPROCS, at least 8.
	MaxConcurrentEvaluations int
	// QueueWait bounds the wait for an evaluation slot of a decision (a
	// list decision waits as long as its context lasts: what it hides
	// stays hidden until the catalog or the policy changes). If zero,
	// defaults to 2 × Timeout.
	QueueWait time.Duration
	// CacheSize bounds the decision cache of DecideCached, in decisions
	// per policy revision. If zero, defaults to DefaultCacheSize; if
	// negative, DecideCached is Decide.
	CacheSize int
	// Now is the clock for decision timestamps and time.now_ns().
	// If nil, time.Now.
	Now func() time.Time
}

// Status is the engine's state for /readyz.
type Status struct {
	// Loaded is true once a policy has been loaded; it stays true when a
	// later reload fails (the last good policy keeps serving).
	Loaded bool `json:"loaded"`
	// Revision identifies the policy in use (see Engine.Revision).
	Revision string `json:"revision,omitempty"`
	// Source says where the policy came from: "dir:<path>",
	// "library+dir:<path>" (Options.Library with a directory), "modules" or
	// "bundle:<names>".
	Source string `json:"source,omitempty"`
	// LastError is the most recent failed load, reload or bundle
	// activation; a later successful load clears it.
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// LoadedAt is when the policy in use was loaded (the last successful
	// load or reload).
	LoadedAt time.Time `json:"loaded_at,omitzero"`
}

// Engine evaluates the policy for every MCP request. It is safe for
// concurrent use; loads are serialised and swap the prepared policy
// atomically, so a Decide sees either the old or the new policy in full.
type Engine struct {
	opts    Options
	log     *slog.Logger
	current atomic.Pointer[compiled]
	dlog    atomic.Pointer[DecisionLog]
	// slots holds a token per evaluation running (acquire).
	slots chan struct{}

	loadMu sync.Mutex // serialises loads and swaps

	mu         sync.Mutex // guards the fields below
	lastErr    error
	lastErrAt  time.Time
	generation uint64
}

// compiled is one immutable generation of the policy.
type compiled struct {
	// loadedAt is when it was swapped in.
	loadedAt time.Time
	// generation numbers it among the engine's policies, never reused
	// (a revision label may be: a bundle's v1, v2, then v1 again).
	generation uint64
	decision   rego.PreparedEvalQuery
	// partial is the decision with the per-call fields unknown: it tells
	// whether a decision may be cached (cache.go).
	partial rego.PreparedPartialQuery
	perCall *perCallRules
	// clockBound: the decision uses a built-in that reads the clock
	// (readsClock), so no decision is cached.
	clockBound bool
	cache      *decisionCache // nil when Options.CacheSize is negative
	// parsed are the policy's modules as parsed, before compilation, for
	// residuals (residual.go); nil for bundles. store holds the data.
	parsed    map[string]*ast.Module
	store     storage.Store
	residuals residuals
	// learning holds a token while a partial evaluation runs (cache.go);
	// learned counts them, for tests.
	learning chan struct{}
	learned  sync.WaitGroup
	grant    rego.PreparedEvalQuery
	upstream rego.PreparedEvalQuery // the upstream scopes
	// list is the visible catalog entries, or nil when the policy does not
	// define them (DecideList).
	list     *rego.PreparedEvalQuery
	listPath string
	// listReads says what the list query reads, nil when its results are
	// not shared between callers (listcache.go); lists holds them.
	listReads *inputReads
	lists     memo[[]bool]
	// mask is data.system.log.mask, or nil when the policy defines none.
	mask *rego.PreparedEvalQuery
	// maskReads says what the mask rule reads, nil when its results are
	// not shared between lines (mask.go); masks holds them.
	maskReads *inputReads
	masks     memo[[]maskRule]
	timeout   time.Duration
	path      string // the decision's data path, "mcpgate/authz/decision"
	grantPath string // the grant's, "mcpgate/authz/grant"
	// upstreamPath is the upstream scopes', "mcpgate/authz/upstream_scopes".
	upstreamPath string
	revision     string
	source       string
	// OPA decision-log plugin and bundle revisions, in bundle mode only.
	opaLogs *logs.Plugin
	bundles map[string]server.BundleInfo
}

// NewEngine returns an Engine with no policy loaded: until a load succeeds,
// every decision denies with ReasonNoPolicy.
func NewEngine(opts Options) *Engine {
	if opts.Query == "" {
		opts.Query = DefaultQuery
	}
	if opts.GrantQuery == "" {
		opts.GrantQuery = DefaultGrantQuery
	}
	if opts.UpstreamScopesQuery == "" {
		opts.UpstreamScopesQuery = DefaultUpstreamScopesQuery
	}
	if opts.ListQuery == "" {
		opts.ListQuery = DefaultListQuery
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxConcurrentEvaluations <= 0 {
		opts.MaxConcurrentEvaluations = max(8, 4*runtime.GOMAXPROCS(0))
	}
	if opts.QueueWait <= 0 {
		opts.QueueWait = 2 * opts.Timeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	} else if opts.DecisionLog != nil {
		opts.DecisionLog.setLogger(opts.Logger)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Library = maps.Clone(opts.Library)
	e := &Engine{opts: opts, log: opts.Logger, slots: make(chan struct{}, opts.MaxConcurrentEvaluations)}
	if opts.DecisionLog != nil {
		e.dlog.Store(opts.DecisionLog)
	}
	return e
}

// Revision identifies the policy in use: a hash of the modules and data for
// LoadDir and LoadModules, the bundle revisions for bundles. It changes on
// every successful load of different content, and is empty before the
// first load. Callers cache policy-dependent values (views) by it.
func (e *Engine) Revision() string {
	if c := e.current.Load(); c != nil {
		return c.revision
	}
	return ""
}

// Ready reports whether a policy is loaded.
func (e *Engine) Ready() bool { return e.current.Load() != nil }

// Status reports the engine's state for /readyz.
func (e *Engine) Status() Status {
	var s Status
	if c := e.current.Load(); c != nil {
		s.Loaded, s.Revision, s.Source, s.LoadedAt = true, c.revision, c.source, c.loadedAt
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lastErr != nil {
		s.LastError, s.LastErrorTime = e.lastErr.Error(), e.lastErrAt
	}
	return s
}

// swap publishes c. The caller holds loadMu.
func (e *Engine) swap(c *compiled) {
	e.mu.Lock()
	e.lastErr, e.lastErrAt = nil, time.Time{}
	e.generation++
	c.generation, c.loadedAt = e.generation, e.opts.Now().UTC()
	e.current.Store(c)
	e.mu.Unlock()
	e.log.Info("policy: loaded", slog.String("revision", c.revision), slog.String("source", c.source))
}

// fail records a failed load for Status and returns err.
func (e *Engine) fail(err error) error {
	e.mu.Lock()
	e.lastErr, e.lastErrAt = err, e.opts.Now()
	e.mu.Unlock()
	return err
}

// ErrLoad wraps every load failure.
var ErrLoad = errors.New("policy: load")
