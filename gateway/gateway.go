package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate/approval"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Gateway aggregates the configured upstream servers behind one MCP endpoint.
type Gateway struct {
	cfg *config.Config
	// lock is the lock file the upstreams are compared with, and
	// approvalModes each server's approval mode (approval.go).
	lock          atomic.Pointer[approval.Lock]
	approvalModes map[string]string
	lockStatus    atomic.Pointer[LockStatus]
	// limiters are the rate limits of limits.rate (ratelimit.go).
	limiters []*rateLimiter
	proxies  proxies // trusted reverse proxies (trusted_proxies)
	opts     *Options
	log      *slog.Logger
	namer    namer
	ups      []*upstream
	relay    *relay
	subs     subscriptions
	schemas  *mcp.SchemaCache

	// scoper decides upstream scopes: Options.Authorizer, when it can; nil
	// otherwise, and then no server has an upstream scope catalogue.
	scoper UpstreamScoper
	// exchanges is whether an upstream exchanges the caller's token
	// (token_exchange): only then does a request's context carry it.
	exchanges bool

	// elicitations are the URL elicitations sent for connections, by id.
	elicitations elicitations

	// scopes are the catalogue entries of each server (Options.Catalogue),
	// shared by the inputs of its calls.
	scopes map[string][]policy.Scope

	cat       atomic.Pointer[catalog]
	rebuildMu sync.Mutex
	revision  uint64

	viewsMu sync.Mutex
	views   map[string]*view

	// sessions seals stateful sessions into their ids; nil without
	// session_key_file.
	sessions *sessionTable
	// registry holds the open sessions of the 2025 revisions (registry.go).
	registry *registry
	// deadlineWarning reports once that the body read deadline cannot be set.
	deadlineWarning sync.Once

	fastStats fastStats
	// parked are the calls of 2026-07-28 clients waiting for their input
	// (bridge.go).
	parked parkedCalls
	// tasks are the upstreams' tasks the gateway's clients poll (tasks.go).
	tasks taskTable
	// keys caches the view and session keys of callers (viewkey.go).
	keys keyCache

	// clientInfo is the gateway as an MCP client names itself upstream.
	clientInfo *mcp.Implementation

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
		clientInfo: &mcp.Implementation{Name: "mcpgate", Version: opts.version()},
	}
	g.scoper, _ = opts.Authorizer.(UpstreamScoper)
	g.limiters = newRateLimiters(cfg.Limits.Rate)
	g.approvalModes = make(map[string]string, len(cfg.Servers))
	for i := range cfg.Servers {
		m := cfg.ApprovalMode(&cfg.Servers[i])
		g.approvalModes[cfg.Servers[i].Name] = m
		if m != config.ApprovalOff && opts.Lock == nil {
			return nil, fmt.Errorf("%w (server %q has approval mode %s)", ErrNoLock, cfg.Servers[i].Name, m)
		}
	}
	lock := &approval.Lock{}
	if opts.Lock != nil && opts.Lock.Lock != nil {
		lock = opts.Lock.Lock
		g.lockStatus.Store(&LockStatus{File: g.cfg.Approval.LockFile, Revision: opts.Lock.Revision, LoadedAt: time.Now().UTC()})
	}
	g.lock.Store(lock)
	var err error
	if g.proxies, err = newProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("gateway: trusted_proxies: %w", err)
	}
	g.registry = newRegistry(cfg.Limits.SessionsPerUser, func(ss *mcp.ServerSession) {
		opts.Metrics.RecordLimit(context.Background(), telemetry.LimitSessionsPerUser, telemetry.LimitActionEvicted)
		g.log.Info("session closed: its user opened more than limits.sessions_per_user; it was idle longest",
			"session", ss.ID(), "limit", cfg.Limits.SessionsPerUser)
	})
	g.relay = newRelay(g.log)
	g.tasks.st = opts.Store
	for _, s := range cfg.Servers {
		if s.Auth != nil && s.Auth.Kind == config.AuthIdentityAssertion && opts.AssertionKeys == nil {
			return nil, ErrNoAssertionKeys
		}
		if s.Auth != nil && s.Auth.Kind == config.AuthOAuth && opts.Connections == nil {
			return nil, ErrNoConnections
		}
		if scopesTaken(s) && g.scoper == nil {
			return nil, ErrNoUpstreamScoper
		}
		g.exchanges = g.exchanges || (s.Auth != nil && s.Auth.Kind == config.AuthTokenExchange)
		g.ups = append(g.ups, newUpstream(s, g))
	}
	g.scopes = scopesByServer(cfg.Servers, opts.Catalogue)
	g.cat.Store(buildCatalog(0, nil, g.namer))
	if len(opts.SessionKeys) > 0 {
		if opts.Store == nil {
			return nil, ErrNoStore
		}
		var err error
		if g.sessions, err = newSessionTable(g, opts.SessionKeys, opts.Store); err != nil {
			return nil, fmt.Errorf("gateway: session keys: %w", err)
		}
	}
	g.mcp = g.mcpHandler()
	return g, nil
}

// Start connects to every upstream in the background. Upstreams that are down
// are retried with backoff; the gateway serves whatever is available. The
// upstream sessions last until Close, which ends them after the requests
// in flight are done: ctx's values are kept, its cancellation is not (a
// SIGTERM must not cut the calls that shutdown waits for).
func (g *Gateway) Start(ctx context.Context) {
	ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
	g.stopped.Add(1)
	go func() {
		defer g.stopped.Done()
		g.maintain(ctx)
	}()
	if timeout := time.Duration(g.cfg.SessionIdleTimeout); timeout > 0 {
		g.stopped.Add(1)
		go func() {
			defer g.stopped.Done()
			g.registry.idleSweep(ctx, timeout, min(timeout/10, time.Minute))
		}()
	}
	for _, u := range g.ups {
		g.stopped.Add(1)
		go func() {
			defer g.stopped.Done()
			u.run(ctx)
		}()
		if u.employees != nil {
			u.employees.start(ctx)
			g.stopped.Add(1)
			go func() {
				defer g.stopped.Done()
				u.employees.run(ctx)
			}()
		}
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
		if !v.sync(cat, rev) {
			g.dropView(v.key, v)
		}
	}
	// Shared views of an older revision, and shown views of an older
	// catalog, are of no use any more.
	g.viewsMu.Lock()
	for k, v := range g.views {
		if v.sharedRevision != "" && (v.sharedRevision != rev || v.catalogRevision != cat.revision) {
			delete(g.views, k)
		}
	}
	g.viewsMu.Unlock()
}

func (g *Gateway) policyRevision() string { return g.opts.Authorizer.Revision() }

func (g *Gateway) catalog() *catalog { return g.cat.Load() }

// viewFor returns the cached view of a request's caller, building it on
// first use. Callers with the same identity (see identityKey) share a view.
func (g *Gateway) viewFor(r *http.Request) *mcp.Server {
	return g.viewOf(r).server
}

// viewOf returns the view of r's caller, in line with the catalog and the
// policy.
func (g *Gateway) viewOf(r *http.Request) *view {
	id, _ := authn.FromContext(r.Context())
	keys := g.keys.of(id)
	rev := g.policyRevision()
	// A 2026-07-28 request may use a view shared with the callers whose
	// lists show the same entries (shownView); a subscriptions/listen
	// stream, which outlives requests and hears resource updates, keeps a
	// view of its caller's.
	if r.Header.Get("Mcp-Protocol-Version") >= statelessVersion && r.Header.Get("Mcp-Method") != "subscriptions/listen" {
		if listKey, ok := g.sharedViewKey(id, keys, rev); ok {
			if v := g.shownView(id, keys, rev, listKey); v != nil {
				return v
			}
			// Not shareable under this policy (its list query timed out,
			// or the policy changed under the same label): the caller's
			// own view, without trying again for every request.
			keys.list.unshared(rev)
		}
	}
	return g.ownView(keys, &policyFilter{g: g, id: id}, rev)
}

// shownView returns the view that shows what id's lists show under the
// policy revision rev and the current catalog, shared with every caller
// whose lists show the same: callers of different groups that see the
// same entries share one view, so a caller of a group set nobody had
// costs its list decisions but not the view's build (the SDK's AddTool
// for each entry). Its key is a digest of the policy revision, the
// catalog revision and the names it shows; it is built from the caller's
// decisions for that catalog and never synced to another (view.sync), so
// a view shows exactly what its key names. The caller's decisions are
// made (and logged) once per catalog revision; nil when the list query
// did not decide them (the caller then uses a view of its own).
func (g *Gateway) shownView(id *authn.Identity, keys callerKeys, rev, listKey string) *view {
	cat := g.catalog()
	key, known := keys.list.shownAt(rev, cat.revision)
	if known {
		if v := g.shownViewAt(key, nil, cat, rev); v != nil {
			return v
		}
	}
	// Not known, or its view has gone (evicted, or dropped by a catalog
	// change): decide the caller's lists for cat.
	f := &policyFilter{g: g, id: id, sharedRevision: rev, sharedKey: listKey}
	d := f.forCatalog(cat)
	if d == nil {
		return nil
	}
	key = shownKey(rev, cat, d)
	keys.list.setShown(rev, cat.revision, key)
	return g.shownViewAt(key, d, cat, rev)
}

// shownViewAt returns the shown view at key, built with the decisions d
// for cat when there is none; nil when there is none and d is nil, or
// when the view cannot be synced (another policy revision). A view built
// for a catalog that has since changed serves the request that asked for
// it, and is forgotten.
func (g *Gateway) shownViewAt(key string, d filter, cat *catalog, rev string) *view {
	g.viewsMu.Lock()
	v, ok := g.views[key]
	if !ok {
		if d == nil {
			g.viewsMu.Unlock()
			return nil
		}
		g.evictViewsLocked()
		v = g.newView(key, d)
		v.sharedRevision, v.catalogRevision = rev, cat.revision
		g.views[key] = v
	}
	g.viewsMu.Unlock()
	if !v.sync(cat, rev) {
		g.dropView(key, v)
		return nil
	}
	if g.catalog().revision != cat.revision {
		g.dropView(key, v)
	}
	return v
}

// shownKey names the view of what d shows of cat under the policy
// revision rev: a digest of both revisions and of the names shown, kind
// by kind, in name order.
func shownKey(rev string, cat *catalog, d filter) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %d", rev, cat.revision)
	shownNames(h, "tools", cat.tools, d.Tool)
	shownNames(h, "prompts", cat.prompts, d.Prompt)
	shownNames(h, "resources", cat.resources, d.Resource)
	shownNames(h, "templates", cat.templates, d.ResourceTemplate)
	return "shown\x00" + hex.EncodeToString(h.Sum(nil))
}

func shownNames[E any](w io.Writer, kind string, entries map[string]E, shows func(E) bool) {
	fmt.Fprintf(w, "\x00%s", kind)
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		if shows(entries[name]) {
			fmt.Fprintf(w, "\x00%q", name)
		}
	}
}

// ownView returns the caller's own view (at keys.view), made with f when
// there is none, in line with the catalog and the policy revision rev. It
// always syncs: only a shared view refuses a revision (view.sync).
func (g *Gateway) ownView(keys callerKeys, f *policyFilter, rev string) *view {
	g.viewsMu.Lock()
	v, ok := g.views[keys.view]
	if !ok {
		g.evictViewsLocked()
		v = g.newView(keys.view, f)
		v.bindKey = keys.session
		g.views[keys.view] = v
	}
	g.viewsMu.Unlock()
	v.sync(g.catalog(), rev)
	return v
}

// dropView forgets v, the view at key; requests using it finish with it.
func (g *Gateway) dropView(key string, v *view) {
	g.viewsMu.Lock()
	if g.views[key] == v {
		delete(g.views, key)
	}
	g.viewsMu.Unlock()
}

// SharedListAuthorizer is an Authorizer that names what a caller's list
// decisions depend on (policy.Engine.ListKey) and decides lists for
// callers who share them (DecideListShared): callers with the same key
// see the same entries, so their 2026-07-28 requests share one view.
type SharedListAuthorizer interface {
	ListKey(in *policy.Input) (key, revision string, ok bool)
	DecideListShared(ctx context.Context, key string, in *policy.Input, cat *policy.ListCatalog) ([]bool, bool)
}

// sharedViewKey is the list key of id under the policy revision rev when
// the authorizer lets callers share views (the key of their shared view),
// worked out once per identity and revision. Sharing saves a new caller
// the view's build (the SDK's AddTool for each entry: most of a first
// list's time). A shared view keeps nothing of one caller
// but what its list key names, under its policy only: every request is
// decided with its own caller, initialize allows are kept per caller (the
// caller's keys), a shared view is never synced under another policy or
// with a list that the list query did not decide (view.sync), and 2025
// sessions and subscriptions/listen streams keep views of their own.
func (g *Gateway) sharedViewKey(id *authn.Identity, keys callerKeys, rev string) (key string, ok bool) {
	lk, ok := g.opts.Authorizer.(SharedListAuthorizer)
	if !ok || id == nil || keys.list == nil {
		return "", false
	}
	m := keys.list
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revision != rev {
		key, keyRev, ok := lk.ListKey(g.baseInput(id, policy.PhaseList, "tools/list"))
		m.revision, m.key, m.ok, m.shown = rev, key, ok && keyRev == rev, ""
	}
	return m.key, m.ok
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
	g.parked.closeAll()
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

// useAssertions authenticates u with identity assertions: the pooled
// session, which lists the catalog, as the gateway itself, and each
// employee's calls over a session of their own, as that employee.
func (g *Gateway) useAssertions(u *upstream) {
	keys, iss, ttl, margin := g.opts.AssertionKeys, assertionIssuer(g.cfg), u.cfg.Auth.AssertionTTL(), g.opts.upstreamTokenMargin()
	u.token = newAssertionSource(keys, serviceClaims(iss, u.cfg), ttl, margin, u.cfg.Name, g.opts.Metrics)
	u.credentialFor = func(_ context.Context, id *authn.Identity) tokenSource {
		return newAssertionSource(keys, employeeClaims(iss, u.cfg, id), ttl, margin, u.cfg.Name, g.opts.Metrics)
	}
	u.employees = newEmployeeSessions(u, g.opts.employeeSessions(), g.opts.employeeSessionIdle())
}

// useTokenExchange authenticates each employee's calls to u with tokens
// exchanged for the employee's own (RFC 8693), over a session of their
// own. The pooled session, which lists the catalog and holds the
// gateway's subscriptions, has no employee and sends no Authorization:
// the upstream must allow initialize and the lists without a token.
func (g *Gateway) useTokenExchange(u *upstream) {
	x := newTokenExchange(u.cfg, u.base, g.opts.upstreamTokenMargin(), g.opts.Metrics, g.opts.TracerProvider)
	u.credentialFor = x.forEmployee
	u.employees = newEmployeeSessions(u, g.opts.employeeSessions(), g.opts.employeeSessionIdle())
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

		approvalMode: g.cfg.ApprovalMode(&cfg),
		maxMessage:   maxMessageOf(g.cfg),
		lock:         &g.lock,
	}
	switch {
	case cfg.Auth == nil:
	case cfg.Auth.Kind == config.AuthClientCredentials:
		u.token = newClientCredentials(cfg, u.base, g.opts.upstreamTokenMargin(), g.opts.Metrics, g.opts.TracerProvider)
	case cfg.Auth.Kind == config.AuthIdentityAssertion:
		g.useAssertions(u)
	case cfg.Auth.Kind == config.AuthOAuth:
		g.useConnections(u)
	case cfg.Auth.Kind == config.AuthTokenExchange:
		g.useTokenExchange(u)
	}
	u.headers = &upstreamHeaders{cfg: cfg, recheck: g.opts.headerRecheck(), log: u.log}
	u.onReady = func(ctx context.Context, cs *mcp.ClientSession) { g.subs.resubscribe(ctx, u, cs) }
	u.clientInfo = g.clientInfo
	u.client = mcp.NewClient(g.clientInfo, g.relay.clientOptions(u, g))
	u.client.AddReceivingMiddleware((&upstreamRelay{g.relay, u}).passThroughMiddleware)
	return u
}

// maxMessageOf is limits.max_upstream_message_bytes, or its default for a
// configuration built without one (tests).
func maxMessageOf(cfg *config.Config) int {
	if n := int(cfg.Limits.MaxUpstreamMessageBytes); n > 0 {
		return n
	}
	return int(config.DefaultMaxUpstreamMessageBytes)
}
