package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// codeMissingClientCapability is the 2026-07-28 MissingRequiredClientCapability error.
const codeMissingClientCapability = -32021

// callMetaKey is the _meta key under which the gateway tags messages an
// upstream sends on the stream of one forwarded request, so that a request
// the upstream makes of the client (sampling, elicitation) or a log message
// reaches the client session whose call caused it. It is removed before the
// message is relayed.
const callMetaKey = "dev.mcpgate/call"

// relay connects messages from upstreams to the downstream request that
// caused them: progress notifications by a progress token the gateway
// substitutes for the client's, and server-to-client requests and log
// messages by the call tag.
type relay struct {
	log *slog.Logger

	mu    sync.Mutex
	calls map[string]*pendingCall
}

// pendingCall is one forwarded request that has not finished.
type pendingCall struct {
	id string
	up *upstream // the only upstream whose messages may name this call
	ss *mcp.ServerSession
	// fast: a call on the fast path, which relays only what arrives on
	// the call's own stream; messages elsewhere naming it are dropped
	// (its ss is nil for a 2026-07-28 client).
	fast  bool
	ctx   context.Context
	token any // the client's progress token, or nil

	// The SDK client hands notifications to their handlers asynchronously,
	// so the upstream's response can overtake the progress and log messages
	// sent before it. tagged counts the messages the upstream sent on this
	// request's stream, relayed those that were passed on; the call waits
	// for relayed to catch up before answering the client.
	tagged  atomic.Int64
	relayed atomic.Int64
	settled chan struct{} // signalled after each relayed message
}

// settleLimit bounds how long a finished call waits for its upstream's
// earlier messages to be relayed.
const settleLimit = 2 * time.Second

func (pc *pendingCall) relayedOne() {
	pc.relayed.Add(1)
	select {
	case pc.settled <- struct{}{}:
	default:
	}
}

// settle waits until every message tagged for this call was relayed.
func (pc *pendingCall) settle() {
	if pc.relayed.Load() >= pc.tagged.Load() {
		return
	}
	timer := time.NewTimer(settleLimit)
	defer timer.Stop()
	for pc.relayed.Load() < pc.tagged.Load() {
		select {
		case <-pc.settled:
		case <-pc.ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

type pendingCallKey struct{}

func newRelay(log *slog.Logger) *relay {
	return &relay{log: log, calls: make(map[string]*pendingCall)}
}

// begin registers a forwarded request and returns the _meta to send upstream:
// only the gateway's call id as progress token, when the client asked for
// progress. Nothing else of the client's _meta travels: keys a client
// invents (an "authorization", a forged call tag) stay at the gateway, and
// the protocol keys an upstream needs (trace context, a 2026-07-28 client's
// capabilities and log level) are set by the gateway itself (upstreamSpan,
// upstreamMeta). The returned context carries the call id for the upstream
// transport; end must be called when the request finished.
func (r *relay) begin(ctx context.Context, ss *mcp.ServerSession, u *upstream, in mcp.Meta) (context.Context, mcp.Meta, func()) {
	// Unguessable: an upstream learns only the ids of its own calls (as
	// progress tokens), and messages naming a call are accepted only from
	// the upstream serving it.
	id := "mcpgate-" + rand.Text()
	pc := &pendingCall{id: id, up: u, ss: ss, ctx: ctx, token: in["progressToken"], settled: make(chan struct{}, 1),
		fast: ctx.Value(fastCallKey{}) != nil}
	var out mcp.Meta
	if pc.token != nil {
		out = mcp.Meta{"progressToken": id}
	}
	r.mu.Lock()
	r.calls[id] = pc
	r.mu.Unlock()
	end := func() {
		pc.settle()
		r.mu.Lock()
		delete(r.calls, id)
		r.mu.Unlock()
	}
	return context.WithValue(ctx, pendingCallKey{}, pc), out, end
}

// lookup returns the pending call id names, if upstream u serves it.
func (r *relay) lookup(u *upstream, id any) *pendingCall {
	s, ok := id.(string)
	if !ok {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if pc := r.calls[s]; pc != nil && pc.up == u && !pc.fast {
		return pc
	}
	return nil
}

// fromMeta returns the pending call a tagged message belongs to and removes
// the tag.
func (r *relay) fromMeta(u *upstream, m mcp.Meta) *pendingCall {
	id, ok := m[callMetaKey]
	if !ok {
		return nil
	}
	delete(m, callMetaKey)
	return r.lookup(u, id)
}

// clientOptions are the handlers of the client the gateway uses with upstream
// u: list changes re-list u, and everything addressed to a client is relayed.
func (r *relay) clientOptions(u *upstream, g *Gateway) *mcp.ClientOptions {
	ur := &upstreamRelay{r, u}
	return &mcp.ClientOptions{
		Logger: u.log,
		// Roots are asked of the client whose call is in progress; the
		// list is the client's, so no list_changed is promised upstream.
		Capabilities:               &mcp.ClientCapabilities{RootsV2: &mcp.RootCapabilities{}},
		ToolListChangedHandler:     func(context.Context, *mcp.ToolListChangedRequest) { u.requestRefresh(changedTools) },
		PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { u.requestRefresh(changedPrompts) },
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { u.requestRefresh(changedResources) },
		ResourceUpdatedHandler: func(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			g.resourceUpdated(ctx, u, req.Params)
		},
		ProgressNotificationHandler: ur.progress,
		LoggingMessageHandler:       ur.logMessage,
		// Declare the capabilities; the requests themselves are taken by
		// passThroughMiddleware before the SDK validates them.
		ElicitationHandler:   ur.elicit,
		CreateMessageHandler: ur.createMessage,
		// 2026-07-28 upstreams ask for input with input-required results; the
		// gateway passes those through unchanged, and the SDK server fulfils
		// them for clients of earlier revisions.
		MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
	}
}

// passThroughMiddleware relays elicitation and sampling requests as they
// are. The SDK client checks an elicitation schema against the revision it
// knows before calling its handler; a gateway must leave that to the client
// that answers, or newer schemas (SEP-1330 enums) would never reach it.
// upstreamRelay relays what one upstream sends.
type upstreamRelay struct {
	*relay
	u *upstream
}

func (r *upstreamRelay) passThroughMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch req := req.(type) {
		case *mcp.ElicitRequest:
			return r.elicit(ctx, req)
		case *mcp.CreateMessageRequest:
			return r.createMessage(ctx, req)
		case *mcp.ListRootsRequest:
			return r.listRoots(ctx, req)
		}
		return next(ctx, method, req)
	}
}

func (r *upstreamRelay) progress(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
	if tagged := r.fromMeta(r.u, req.Params.Meta); tagged != nil {
		defer tagged.relayedOne()
	}
	pc := r.lookup(r.u, req.Params.ProgressToken)
	if pc == nil || pc.token == nil {
		return
	}
	p := *req.Params
	p.ProgressToken = pc.token
	p.Meta = nil
	if err := pc.ss.NotifyProgress(pc.ctx, &p); err != nil {
		r.log.Debug("relay progress", "err", err)
	}
}

func (r *upstreamRelay) logMessage(ctx context.Context, req *mcp.LoggingMessageRequest) {
	pc := r.fromMeta(r.u, req.Params.Meta)
	if pc == nil {
		return // not caused by a call of any client session
	}
	defer pc.relayedOne()
	if err := pc.ss.Log(pc.ctx, req.Params); err != nil {
		r.log.Debug("relay log message", "err", err)
	}
}

// errNoClient is returned to an upstream whose request of the client cannot be
// related to a client session.
var errNoClient = errors.New("mcpgate: this request is not related to a client request in progress, so no client can answer it")

func (r *upstreamRelay) target(m mcp.Meta, what string) (*pendingCall, error) {
	pc := r.fromMeta(r.u, m)
	if pc == nil {
		return nil, errNoClient
	}
	p := pc.ss.InitializeParams()
	if p == nil || p.ProtocolVersion >= statelessVersion {
		return nil, fmt.Errorf("mcpgate: the client speaks MCP 2026-07-28, which cannot answer a server's %s request during a call; the upstream must use an input-required result", what)
	}
	if caps := p.Capabilities; caps == nil || what == "elicitation" && caps.Elicitation == nil ||
		what == "sampling" && caps.Sampling == nil || what == "roots" && caps.RootsV2 == nil {
		return nil, &jsonrpc.Error{Code: codeMissingClientCapability,
			Message: fmt.Sprintf("mcpgate: the client did not declare the %s capability", what), Data: missingCapabilityData(what)}
	}
	return pc, nil
}

func (r *upstreamRelay) elicit(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	pc, err := r.target(req.Params.Meta, "elicitation")
	if err != nil {
		return nil, err
	}
	ctx, cancel := joinCancel(pc.ctx, ctx)
	defer cancel()
	return pc.ss.Elicit(ctx, req.Params)
}

func (r *upstreamRelay) createMessage(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	pc, err := r.target(req.Params.Meta, "sampling")
	if err != nil {
		return nil, err
	}
	ctx, cancel := joinCancel(pc.ctx, ctx)
	defer cancel()
	return pc.ss.CreateMessage(ctx, req.Params)
}

func (r *upstreamRelay) listRoots(ctx context.Context, req *mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	var meta mcp.Meta
	if req.Params != nil {
		meta = req.Params.Meta
	}
	pc, err := r.target(meta, "roots")
	if err != nil {
		return nil, err
	}
	ctx, cancel := joinCancel(pc.ctx, ctx)
	defer cancel()
	params := req.Params
	if params != nil {
		p := *params
		p.Meta = nil
		params = &p
	}
	return pc.ss.ListRoots(ctx, params)
}

// joinCancel returns a context with the values of ctx that is also cancelled
// when other is: a relayed request ends when either the client's call or the
// upstream's request is cancelled.
func joinCancel(ctx, other context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(other, cancel)
	return ctx, func() { stop(); cancel() }
}
