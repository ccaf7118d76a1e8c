package gateway

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// view is the *mcp.Server one kind of caller sees: the catalog, filtered, with
// every feature registered as a forwarder. Views are long-lived and updated in
// place when the catalog changes, so the SDK tells connected sessions about
// the change (list_changed) and stateless requests reuse a built server.
type view struct {
	g   *Gateway
	key string // identityKey of its callers
	// bindKey is the sessionKey of its callers: what the sessions it
	// opens are bound to.
	bindKey string
	server  *mcp.Server
	filter  filter
	// fastChain serves the fast path's calls.
	fastChain mcp.MethodHandler
	// policyRevision is the policy revision the view was last synced with.
	policyRevision string
	// sharedRevision and catalogRevision are set for a view shared among
	// callers (shownView): the policy and catalog revisions it shows, the
	// only ones it is synced with.
	sharedRevision  string
	catalogRevision uint64

	// sessionGate caches initialize-phase decisions of 2026-07-28
	// requests, which have no initialize of their own (see authz.go).
	sessionGate sessionGate

	// listing is held for writing while a sync changes the registered
	// features, and for reading while a list request is answered: a list
	// never sees a sync half done (a page of the old set, a page of the
	// new, or a set still being added to).
	listing sync.RWMutex

	mu        sync.Mutex
	revision  uint64
	tools     map[string]*toolEntry
	prompts   map[string]*promptEntry
	resources map[string]*resourceEntry
	templates map[string]*templateEntry
}

// filter decides which catalog features a view shows (the list phase).
// Hiding is not enforcement: the call phase decides again on every call. A
// nil filter shows everything.
type filter interface {
	Tool(*toolEntry) bool
	Prompt(*promptEntry) bool
	Resource(*resourceEntry) bool
	ResourceTemplate(*templateEntry) bool
}

func (g *Gateway) newView(key string, f filter) *view {
	v := &view{
		g:         g,
		key:       key,
		filter:    f,
		tools:     map[string]*toolEntry{},
		prompts:   map[string]*promptEntry{},
		resources: map[string]*resourceEntry{},
		templates: map[string]*templateEntry{},
	}
	v.server = mcp.NewServer(&mcp.Implementation{Name: "mcpgate", Version: g.opts.version()}, &mcp.ServerOptions{
		Logger:       g.log,
		Instructions: g.opts.Instructions,
		Capabilities: &mcp.ServerCapabilities{
			Tools:       &mcp.ToolCapabilities{ListChanged: true},
			Prompts:     &mcp.PromptCapabilities{ListChanged: true},
			Resources:   &mcp.ResourceCapabilities{ListChanged: true, Subscribe: true},
			Logging:     &mcp.LoggingCapabilities{},
			Completions: &mcp.CompletionCapabilities{},
		},
		SchemaCache:       g.schemas,
		PageSize:          g.opts.PageSize,
		CompletionHandler: v.complete,
		// What a caller sees depends on who the caller is (sign-in, policy),
		// so no shared cache may keep a list or a read for another caller.
		SetCacheable:       func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.CacheScope = "private" },
		SubscribeHandler:   v.subscribe,
		UnsubscribeHandler: v.unsubscribe,
	})
	v.server.AddSendingMiddleware(dropUnsubscribedListChanged)
	v.server.AddReceivingMiddleware(v.advertiseTasks) // tasks.go
	v.server.AddReceivingMiddleware(v.wholeLists)
	// A name of an unavailable server gets an error naming the server
	// rather than "unknown tool". Inside authorize (the SDK makes a
	// middleware added later the outer one): a caller the policy does not
	// admit learns nothing, and with a policy a target nobody can resolve
	// is refused as unknown before it gets here, so which servers exist
	// and which are down is not told to callers without a decision.
	v.server.AddReceivingMiddleware(v.absentServerMiddleware)
	v.server.AddReceivingMiddleware(v.authorize)
	v.server.AddReceivingMiddleware(g.observe) // outermost: every request's SERVER span
	// The fast path's calls (fastcall.go) go through the same middleware,
	// in the same order, to the handler that forwards them.
	v.fastChain = g.observe(v.authorize(v.absentServerMiddleware(g.fastForward)))
	return v
}

// sync brings the registered features in line with cat and the policy
// revision: each entry is decided again when either changed. It reports
// false, changing nothing, for a shared view that cannot be in line: the
// revision is not the one it is shared under, or the list query did not
// decide the list (a timeout's per-entry fallback, an error), which its
// callers must not share. The view is then of no use.
func (v *view) sync(cat *catalog, policyRevision string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.revision == cat.revision && v.policyRevision == policyRevision {
		return true
	}
	if v.sharedRevision != "" && (v.sharedRevision != policyRevision || v.catalogRevision != cat.revision) {
		return false
	}
	f := v.filter
	if pf, ok := f.(*policyFilter); ok {
		if f = pf.forCatalog(cat); f == nil { // the whole catalog in one decision per kind
			return false
		}
	}
	v.revision, v.policyRevision = cat.revision, policyRevision
	v.listing.Lock()
	defer v.listing.Unlock()
	syncSet(v.tools, cat.tools, func(e *toolEntry) bool {
		return shows(f == nil, e.pin) || (f != nil && f.Tool(e))
	}, func(_ string, e *toolEntry) { v.server.AddTool(e.tool, v.g.toolHandler(e)) }, v.server.RemoveTools)
	syncSet(v.prompts, cat.prompts, func(e *promptEntry) bool {
		return shows(f == nil, e.pin) || (f != nil && f.Prompt(e))
	}, func(_ string, e *promptEntry) { v.server.AddPrompt(e.prompt, v.g.promptHandler(e)) }, v.server.RemovePrompts)
	syncSet(v.resources, cat.resources, func(e *resourceEntry) bool {
		return shows(f == nil, e.pin) || (f != nil && f.Resource(e))
	}, func(_ string, e *resourceEntry) { v.server.AddResource(e.resource, v.g.resourceHandler(e.up)) }, v.server.RemoveResources)
	syncSet(v.templates, cat.templates, func(e *templateEntry) bool {
		return shows(f == nil, e.pin) || (f != nil && f.ResourceTemplate(e))
	}, func(_ string, e *templateEntry) {
		v.server.AddResourceTemplate(e.template, v.g.resourceHandler(e.up))
	}, v.server.RemoveResourceTemplates)
	return true
}

// shows is what a view without a filter shows: everything but what
// awaits approval.
func shows(noFilter bool, p pin) bool { return noFilter && !p.quarantined }

// listMethods are the requests that page through a view's features.
var listMethods = map[string]bool{"tools/list": true, "prompts/list": true, "resources/list": true, "resources/templates/list": true}

// wholeLists answers list requests between syncs, never during one.
func (v *view) wholeLists(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if !listMethods[method] {
			return next(ctx, method, req)
		}
		v.listing.RLock()
		defer v.listing.RUnlock()
		return next(ctx, method, req)
	}
}

// dropUnsubscribedListChanged keeps list_changed notifications meant for
// sessions of the 2025 revisions away from 2026-07-28 requests. go-sdk
// v1.8.0 broadcasts them to every session without initialize parameters,
// and the stateless sessions of 2026-07-28 requests have none, so a request
// in flight (a subscriptions/listen stream filtered to other kinds, say)
// would receive notifications it did not subscribe to. Notifications for
// a subscription carry its id in _meta and pass.
func dropUnsubscribedListChanged(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if !strings.HasSuffix(method, "/list_changed") {
			return next(ctx, method, req)
		}
		ss, ok := req.GetSession().(*mcp.ServerSession)
		if ok && ss.InitializeParams() == nil {
			if p := req.GetParams(); p == nil || p.GetMeta()[mcp.MetaKeySubscriptionID] == nil {
				return nil, nil
			}
		}
		return next(ctx, method, req)
	}
}

// syncSet makes have equal to the visible entries of want, calling add for
// new or changed entries and remove once with every key that went away.
// Visibility is decided again for every entry, once (each decision is a
// decision-log line).
func syncSet[E comparable](have, want map[string]E, visible func(E) bool, add func(string, E), remove func(...string)) {
	show := make(map[string]bool, len(want))
	for k, w := range want {
		show[k] = visible(w)
	}
	var gone []string
	for k, e := range have {
		if show[k] && want[k] == e {
			continue
		}
		delete(have, k)
		if !show[k] {
			gone = append(gone, k) // a changed entry is replaced by add below
		}
	}
	for k, w := range want {
		if _, ok := have[k]; ok || !show[k] {
			continue
		}
		have[k] = w
		add(k, w)
	}
	if len(gone) > 0 {
		remove(gone...)
	}
}

// absentServerMiddleware answers a call to a tool or prompt of an upstream
// that is currently unavailable with an error naming the server, rather than
// the SDK's "unknown tool".
func (v *view) absentServerMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		var name string
		switch r := req.(type) {
		case *mcp.CallToolRequest:
			name = r.Params.Name
		case *mcp.GetPromptRequest:
			name = r.Params.Name
		default:
			return next(ctx, method, req)
		}
		cat := v.g.catalog()
		if _, ok := cat.tools[name]; ok {
			return next(ctx, method, req)
		}
		if _, ok := cat.prompts[name]; ok {
			return next(ctx, method, req)
		}
		if u := cat.absentServer(name); u != nil {
			u.mu.Lock()
			err := u.unavailableLocked()
			u.mu.Unlock()
			return nil, v.g.callError(u, err)
		}
		return next(ctx, method, req)
	}
}

// The view resolves targets among what it shows (targets), as the SDK
// dispatches them.

func (v *view) tool(name string) *toolEntry {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.tools[name]
}

func (v *view) prompt(name string) *promptEntry {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.prompts[name]
}

func (v *view) resource(uri string) *resourceEntry {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.resources[uri]
}

func (v *view) templateByURI(t string) *templateEntry {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.templates[t]
}

// template is the template that serves uri, unless uri names, in any
// spelling a server may resolve to it (catalog.resourcesNamed:
// percent-encoded, with dot segments, another case, a trailing slash, a
// fragment or query added), a resource of the catalog that the view does
// not show (one the policy hides, or that awaits approval): a URI that
// names a resource is that resource, and a template that happens to match
// it never stands in for it. A spelling of a resource the view shows (a
// page of it: api://items?page=2) goes to the template.
func (v *view) template(uri string) *templateEntry {
	named := v.g.catalog().resourcesNamed(uri)
	v.mu.Lock()
	defer v.mu.Unlock()
	_, shown := v.resources[uri]
	e := firstMatch(v.templates, uri)
	if e == nil || shown {
		return e
	}
	for _, r := range named {
		if _, ok := v.resources[r]; !ok {
			return nil
		}
	}
	return e
}

// owner returns the upstream serving a resource URI this view shows.
func (v *view) owner(uri string) *upstream {
	if e := v.resource(uri); e != nil {
		return e.up
	}
	if e := v.template(uri); e != nil {
		return e.up
	}
	return nil
}

func (v *view) complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	p := *req.Params
	if p.Ref == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "completion/complete: missing ref"}
	}
	ref := *p.Ref
	var u *upstream
	switch ref.Type {
	case "ref/prompt":
		v.mu.Lock()
		e, ok := v.prompts[ref.Name]
		v.mu.Unlock()
		if ok {
			u, ref.Name = e.up, e.upstreamName
		}
	case "ref/resource":
		if e := v.templateByURI(ref.URI); e != nil {
			u = e.up
		} else if e := v.resource(ref.URI); e != nil {
			u = e.up
		}
	}
	if u == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams,
			Message: fmt.Sprintf("completion/complete: unknown %s %q", ref.Type, ref.Name+ref.URI)}
	}
	if err := v.g.checkDecided(ctx, u, ""); err != nil {
		return nil, err
	}
	p.Ref = &ref
	var res *mcp.CompleteResult
	err := v.g.forward(ctx, req.Session, u, identityOf(req), "completion/complete", "", p.Meta, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) (err error) {
		q := p
		q.Meta = meta
		res, err = cs.Complete(ctx, &q)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// subscribe is reached by resources/subscribe and by the resource
// subscriptions of a 2026-07-28 subscriptions/listen, which bypasses the
// receiving middleware: so the call-phase decision is made here.
func (v *view) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	u := v.owner(req.Params.URI)
	if u == nil {
		return resourceNotFound(req.Params.URI)
	}
	if req.Extra == nil {
		req.Extra, _ = ctx.Value(listenExtraKey{}).(*mcp.RequestExtra)
	}
	var err error
	if ctx, err = v.decide(ctx, "resources/subscribe", req); err != nil {
		return err
	}
	if err := v.g.checkDecided(ctx, u, ""); err != nil {
		return err
	}
	return v.g.subs.subscribe(ctx, v.g, req.Session, u, req.Params.URI)
}

// unsubscribe needs no decision: it only ends what a decision allowed, and
// only for the session that subscribed.
func (v *view) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	return v.g.subs.unsubscribe(ctx, v.g, req.Session, req.Params.URI)
}
