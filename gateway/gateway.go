package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Options are the parts of a gateway that are not configuration data: the
// seams where authentication, policy and telemetry plug in, and knobs for
// tests. A nil *Options means all defaults.
type Options struct {
	// Logger receives the gateway's logs. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Version is reported as the server and client version. If empty, "dev".
	Version string
	// Instructions are sent to clients in the initialize result.
	Instructions string

	// HTTPMiddleware wraps the /mcp endpoint, outermost first. Authentication
	// plugs in here.
	HTTPMiddleware []func(http.Handler) http.Handler
	// Routes are extra handlers on the gateway's listener, by ServeMux
	// pattern: protected-resource metadata, the development identity
	// provider. They are not wrapped by HTTPMiddleware.
	Routes map[string]http.Handler
	// Authorizer decides every phase. It is required: New refuses a nil
	// one. `mcpgate serve` passes the policy engine; a deliberately open
	// gateway (tests, local experiments) passes [AllowAll].
	Authorizer Authorizer
	// ScopeChallenge writes the HTTP 403 insufficient_scope challenge for a
	// request whose decision requires scopes the token lacks. If nil, such
	// requests are only denied.
	ScopeChallenge func(w http.ResponseWriter, scopes []string, description string)
	// MaxViews bounds the number of cached per-caller views; views without
	// sessions are dropped first. If zero, 10000.
	MaxViews int

	// PageSize is the number of items per page of the lists clients see. If
	// zero, the SDK's default (1000) is used.
	PageSize int

	// TracerProvider, Propagator and Metrics carry the gateway's telemetry.
	// If nil, no spans are recorded, trace context is W3C tracecontext and
	// baggage, and no metrics are recorded.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	Metrics        *telemetry.Metrics
	// SpanIdentity is what SERVER spans record about the caller. If empty,
	// nothing.
	SpanIdentity telemetry.IdentityMode

	// Transport carries requests to upstreams. If nil, a clone of
	// http.DefaultTransport is used.
	Transport http.RoundTripper
	// ProbeInterval is how often an idle upstream session is checked. If
	// zero, 15s.
	ProbeInterval time.Duration
	// MinBackoff and MaxBackoff bound the delay between reconnection
	// attempts. If zero, 250ms and 30s.
	MinBackoff, MaxBackoff time.Duration

	// SessionKeys seal stateful sessions into their ids so that every
	// replica holding the same keys can serve them; the first seals, every
	// key opens (config.Provisioned.SessionKeys). If empty, sessions live
	// only on the replica that created them.
	SessionKeys [][]byte
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

func (o *Options) version() string {
	if o.Version == "" {
		return "dev"
	}
	return o.Version
}

func (o *Options) transport() http.RoundTripper {
	if o.Transport == nil {
		return http.DefaultTransport.(*http.Transport).Clone()
	}
	return o.Transport
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (o *Options) probeInterval() time.Duration { return orDefault(o.ProbeInterval, 15*time.Second) }
func (o *Options) minBackoff() time.Duration    { return orDefault(o.MinBackoff, 250*time.Millisecond) }
func (o *Options) maxBackoff() time.Duration    { return orDefault(o.MaxBackoff, 30*time.Second) }

// Gateway aggregates the configured upstream servers behind one MCP endpoint.
type Gateway struct {
	cfg     *config.Config
	opts    *Options
	log     *slog.Logger
	namer   namer
	ups     []*upstream
	relay   *relay
	subs    subscriptions
	schemas *mcp.SchemaCache

	cat       atomic.Pointer[catalog]
	rebuildMu sync.Mutex
	revision  uint64

	viewsMu sync.Mutex
	views   map[string]*view

	// sessions seals stateful sessions into their ids; nil without
	// session_key_file.
	sessions *sessionTable

	// tracer and propagator are resolved once from the options.
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator

	inflight inflight
	mcp      http.Handler
	cancel   context.CancelFunc
	stopped  sync.WaitGroup
}

// New builds a gateway for cfg, which must have passed validation; it
// neither validates again nor reads files. It does not contact any
// upstream until Start.
func New(cfg *config.Config, opts *Options) (*Gateway, error) {
	if opts == nil {
		opts = &Options{}
	}
	if opts.Authorizer == nil {
		return nil, ErrNoAuthorizer
	}
	g := &Gateway{
		cfg:     cfg,
		opts:    opts,
		log:     opts.logger(),
		namer:   namer{sep: cfg.Naming.Separator},
		schemas: mcp.NewSchemaCache(),
		views:   map[string]*view{},

		tracer:     opts.tracer(),
		propagator: opts.propagator(),
	}
	g.relay = newRelay(g.log)
	for _, s := range cfg.Servers {
		g.ups = append(g.ups, newUpstream(s, g))
	}
	g.cat.Store(buildCatalog(0, nil, g.namer))
	if len(opts.SessionKeys) > 0 {
		var err error
		if g.sessions, err = newSessionTable(g, opts.SessionKeys); err != nil {
			return nil, fmt.Errorf("gateway: session keys: %w", err)
		}
	}
	g.mcp = g.mcpHandler()
	return g, nil
}

// Start connects to every upstream in the background. Upstreams that are down
// are retried with backoff; the gateway serves whatever is available.
func (g *Gateway) Start(ctx context.Context) {
	ctx, g.cancel = context.WithCancel(ctx)
	g.stopped.Add(1)
	go func() {
		defer g.stopped.Done()
		g.maintain(ctx)
	}()
	for _, u := range g.ups {
		g.stopped.Add(1)
		go func() {
			defer g.stopped.Done()
			u.run(ctx)
		}()
	}
}

// WaitSettled waits until every upstream has been tried at least once, or ctx
// ends. `mcpgate dev` and tests use it to start with a populated catalog.
func (g *Gateway) WaitSettled(ctx context.Context) error {
	for _, u := range g.ups {
		for {
			u.mu.Lock()
			st, ch := u.state, u.changed
			u.mu.Unlock()
			if st != StateConnecting {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// rebuild recomputes the catalog after an upstream changed and brings every
// view up to date.
func (g *Gateway) rebuild() {
	g.rebuildMu.Lock()
	defer g.rebuildMu.Unlock()
	g.revision++
	cat := buildCatalog(g.revision, g.ups, g.namer)
	for _, c := range cat.collisions {
		g.log.Warn("name collision", "detail", c)
	}
	g.cat.Store(cat)
	// Views with open sessions are synced now, so those sessions hear
	// list_changed; the others (cached views of callers without a session,
	// such as 2026-07-28 clients between requests) when they are next used
	// (viewFor syncs), rather than all at once: each entry is a policy
	// decision.
	g.viewsMu.Lock()
	views := make([]*view, 0, len(g.views))
	for _, v := range g.views {
		if hasSessions(v.server) {
			views = append(views, v)
		}
	}
	g.viewsMu.Unlock()
	rev := g.policyRevision()
	for _, v := range views {
		v.sync(cat, rev)
	}
}

func (g *Gateway) policyRevision() string { return g.opts.Authorizer.Revision() }

func (g *Gateway) catalog() *catalog { return g.cat.Load() }

// viewFor returns the cached view of a request's caller, building it on
// first use. Callers with the same identity (see identityKey) share a view.
func (g *Gateway) viewFor(r *http.Request) *mcp.Server {
	id, _ := authn.FromContext(r.Context())
	key, f := identityKey(id), &policyFilter{g: g, id: id}
	g.viewsMu.Lock()
	v, ok := g.views[key]
	if !ok {
		g.evictViewsLocked()
		v = g.newView(f)
		g.views[key] = v
	}
	g.viewsMu.Unlock()
	v.sync(g.catalog(), g.policyRevision())
	return v.server
}

// evictViewsLocked makes room for one more view by dropping views that no
// session uses any more.
func (g *Gateway) evictViewsLocked() {
	limit := g.opts.MaxViews
	if limit <= 0 {
		limit = 10000
	}
	if len(g.views) < limit {
		return
	}
	for k, v := range g.views {
		if !hasSessions(v.server) {
			delete(g.views, k)
		}
		if len(g.views) < limit/2 {
			return
		}
	}
}

// SessionCount is the number of client sessions open now (stateful
// sessions and 2026-07-28 requests in flight).
func (g *Gateway) SessionCount() int {
	n := 0
	g.viewsMu.Lock()
	defer g.viewsMu.Unlock()
	for _, v := range g.views {
		for range v.server.Sessions() {
			n++
		}
	}
	return n
}

func hasSessions(s *mcp.Server) bool {
	for range s.Sessions() {
		return true
	}
	return false
}

// maintain runs once a second: it re-syncs every view when the policy
// revision changed, so sessions that stay open see the new policy's lists
// (list_changed).
func (g *Gateway) maintain(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := g.policyRevision()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if rev := g.policyRevision(); rev != last {
			last = rev
			g.rebuild()
		}
	}
}

func (g *Gateway) resourceUpdated(ctx context.Context, u *upstream, p *mcp.ResourceUpdatedNotificationParams) {
	g.viewsMu.Lock()
	views := make([]*view, 0, len(g.views))
	for _, v := range g.views {
		views = append(views, v)
	}
	g.viewsMu.Unlock()
	for _, v := range views {
		if v.owner(p.URI) == u {
			if err := v.server.ResourceUpdated(ctx, p); err != nil {
				g.log.Debug("relay resource update", "err", err)
			}
		}
	}
}

// Close drains the gateway: new requests are refused, requests in flight may
// finish until ctx ends, then client sessions (and with them their event
// streams) and upstream sessions are closed.
func (g *Gateway) Close(ctx context.Context) error {
	err := g.inflight.drain(ctx)
	g.viewsMu.Lock()
	for _, v := range g.views {
		for ss := range v.server.Sessions() {
			_ = ss.Close()
		}
	}
	g.viewsMu.Unlock()
	if g.cancel != nil {
		g.cancel()
	}
	g.stopped.Wait()
	return err
}

func newUpstream(cfg config.Server, g *Gateway) *upstream {
	u := &upstream{
		cfg:      cfg,
		prefix:   cfg.EffectivePrefix(),
		namer:    g.namer,
		opts:     g.opts,
		base:     g.opts.transport(),
		log:      g.log.With("upstream", cfg.Name),
		onChange: g.rebuild,
		state:    StateConnecting,
		since:    time.Now(),
		changed:  make(chan struct{}),
		dropped:  make(chan struct{}),
		refresh:  make(chan struct{}, 1),
	}
	u.onReady = func(ctx context.Context, cs *mcp.ClientSession) { g.subs.resubscribe(ctx, u, cs) }
	u.client = mcp.NewClient(&mcp.Implementation{Name: "mcpgate", Version: g.opts.version()}, g.relay.clientOptions(u, g))
	u.client.AddReceivingMiddleware((&upstreamRelay{g.relay, u}).passThroughMiddleware)
	return u
}

// inflight counts requests being answered so shutdown can wait for them.
type inflight struct {
	mu      sync.Mutex
	n       int
	closing bool
	zero    chan struct{}
}

func (f *inflight) add() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.n++
	return true
}

// isClosing reports whether shutdown has begun.
func (f *inflight) isClosing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closing
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.closing && f.n == 0 && f.zero != nil {
		close(f.zero)
		f.zero = nil
	}
}

func (f *inflight) drain(ctx context.Context) error {
	f.mu.Lock()
	f.closing = true
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	zero := make(chan struct{})
	f.zero = zero
	n := f.n
	f.mu.Unlock()
	select {
	case <-zero:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gateway: %d requests still in flight after the shutdown grace period", n)
	}
}
