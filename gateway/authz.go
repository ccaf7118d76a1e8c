package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Authorizer decides every request and every list entry; policy.Engine is
// the implementation. Decide and Check must deny on any failure; Decide
// records the decision (decision log), Check only looks ahead.
type Authorizer interface {
	Decide(ctx context.Context, in *policy.Input) policy.Decision
	Check(ctx context.Context, in *policy.Input) policy.Decision
	Revision() string
}

// CodeDenied is the JSON-RPC error code of a request the policy denied.
const CodeDenied = -32001

// decideObserved is the decision of record, with its span (phase, allow,
// policy revision, decision id: the id of the decision-log line) and its
// metrics.
func (g *Gateway) decideObserved(ctx context.Context, in *policy.Input) policy.Decision {
	return g.decideObservedKeyed(ctx, policy.CacheKey{}, in)
}

// CachingAuthorizer is an Authorizer with a decision cache
// (policy.Engine.DecideCached): a decision the policy makes from the
// caller and the target alone is served from the cache, and still logged.
type CachingAuthorizer interface {
	DecideCached(ctx context.Context, key policy.CacheKey, in *policy.Input) policy.Decision
}

// decideObservedKeyed is decideObserved for a request named by key (the
// caller's PolicyKey and the target's key): served from the authorizer's
// cache when it has one and the policy allows it.
//
// An evaluated decision has a span of its own; one the cache served (a
// map lookup) puts its attributes, with mcpgate.policy.cached, on the
// request's span instead: two of a call's five spans are such lookups,
// and each span costs more than the lookup (docs/observability.md).
func (g *Gateway) decideObservedKeyed(ctx context.Context, key policy.CacheKey, in *policy.Input) policy.Decision {
	start := time.Now()
	var d policy.Decision
	if c, ok := g.opts.Authorizer.(CachingAuthorizer); ok && key.Identity != "" && key.Target != "" {
		d = c.DecideCached(ctx, key, in)
	} else {
		d = g.opts.Authorizer.Decide(ctx, in)
	}
	end := time.Now()
	attrs := []attribute.KeyValue{attribute.String("mcpgate.policy.phase", in.Phase), attribute.Bool("mcpgate.policy.allow", d.Allow),
		attribute.String("mcpgate.policy.revision", d.Revision), attribute.String("mcpgate.policy.decision_id", d.ID)}
	if d.Cached {
		trace.SpanFromContext(ctx).SetAttributes(append(attrs, attribute.Bool("mcpgate.policy.cached", true))...)
	} else {
		_, span := g.tracer.Start(ctx, "mcpgate.policy "+in.Phase, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
		span.End(trace.WithTimestamp(end))
	}
	g.opts.Metrics.RecordPolicyDecision(ctx, in.Phase, d.Allow, end.Sub(start))
	return d
}

// authorize is the call phase: the receiving middleware of every view. A
// request is decided against the target this view will dispatch it to; a
// denied request never reaches an upstream, and the client gets an MCP error
// carrying the policy's reasons. A request whose target the view does not
// show is decided and refused too, and one that cannot be decided is
// refused: nothing call-phase is ever forwarded undecided.
// resources/subscribe is decided in the view's subscribe handler, which
// 2026-07-28 subscriptions/listen reaches without this middleware;
// resources/unsubscribe only ends what a decision allowed and is not
// decided (nor looked ahead by the step-up challenge).
func (v *view) authorize(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if err := v.admit(ctx, method, req); err != nil {
			return nil, err
		}
		if _, decided := callParams[method]; (decided || listMethods[method]) && v.sharedRevision == "" {
			// A session's view may have missed a rebuild: evicted from the
			// gateway's table while its session opened, or synced just
			// before a rebuild stored its catalog. Nothing is listed or
			// decided on entries the catalog has replaced (an entry that
			// now awaits approval must not be served as approved). A
			// no-op when the view is current; a shared view is picked
			// per request at the current catalog.
			v.sync(v.g.catalog(), v.g.policyRevision())
		}
		if method == "subscriptions/listen" {
			// The SDK subscribes the listen request's resources with
			// requests of its own, without the caller's token or headers:
			// view.subscribe takes them from here.
			ctx = context.WithValue(ctx, listenExtraKey{}, req.GetExtra())
		}
		if _, ok := callParams[method]; !ok || method == "resources/subscribe" {
			return next(ctx, method, req)
		}
		if gatewayState(req) && ctx.Value(fastCallKey{}) == nil {
			// Only the fast path holds bridged calls (bridge.go): this
			// path would run the call anew.
			return nil, errStateRefused("this request cannot resume the call it belongs to")
		}
		ctx, err := v.decide(ctx, method, req)
		if err != nil {
			return nil, err
		}
		if extra := req.GetExtra(); extra != nil && v.g.exchanges {
			// The caller's own token, for upstreams that exchange it
			// (token_exchange): it goes to their token endpoints only.
			ctx = withSubjectToken(ctx, identityOf(req), extra.Header)
		}
		return next(ctx, method, req)
	}
}

// listenExtraKey holds, in the context of a 2026-07-28
// subscriptions/listen request, that request's RequestExtra (token and
// headers).
type listenExtraKey struct{}

// decidedKey holds, in a request's context, the target its call-phase
// decision was about: the handler that forwards the request checks that it
// forwards to that target (the view can change between the decision and
// the SDK's dispatch, e.g. when an upstream comes or goes).
type decidedKey struct{}

// decidedTarget is what a decision was about. absent: a target of a server
// that was down, decided on what its name tells; such an allow permits only
// the answer that the server is unavailable, never a forward (the server
// may be back by dispatch, and the policy did not see the tool's
// description and annotations).
type decidedTarget struct {
	server, name string
	absent       bool
	// in is the input the request was decided with, the base of its
	// upstream-phase input (decideUpstreamScopes).
	in *policy.Input
}

func withDecided(ctx context.Context, in *policy.Input, absent bool) context.Context {
	d := decidedTarget{server: in.Server.Name, absent: absent, in: in}
	switch {
	case in.Tool != nil:
		d.name = in.Tool.UpstreamName
	case in.Prompt != nil:
		d.name = in.Prompt.UpstreamName
	}
	return context.WithValue(ctx, decidedKey{}, d)
}

// checkDecided refuses to forward a call-phase request to upstream u's
// name (a tool or prompt; "" for a resource) unless that is what the
// policy decided.
func (g *Gateway) checkDecided(ctx context.Context, u *upstream, name string) error {
	d, ok := ctx.Value(decidedKey{}).(decidedTarget)
	if !ok || d.absent || d.server != u.cfg.Name || (name != "" && d.name != name) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
			Message: "mcpgate: the request's target changed while it was being decided; send it again"}
	}
	return nil
}

// decide makes the call-phase decision of one request and returns the error
// that refuses it, or the context that carries the decided target.
func (v *view) decide(ctx context.Context, method string, req mcp.Request) (context.Context, error) {
	id := identityOf(req)
	if id == nil {
		return ctx, deniedError(policy.Decision{Reasons: []string{"no verified identity"}})
	}
	// Resolve the target as this view will dispatch it. A target the view
	// does not show is still decided (and logged, reasons and all) against
	// the catalog, so the security team sees the attempt; but the caller is
	// answered exactly as for a target that does not exist (notFound),
	// whatever the decision: a caller must not learn from the answer which
	// servers, tools, prompts or resources exist beyond what it may list.
	// Such a target is never dispatched.
	shown := true
	in, target, err := v.g.callInput(id, method, req.GetParams(), v)
	if errors.Is(err, errNoTarget) {
		shown = false
		in, target, err = v.g.callInput(id, method, req.GetParams(), v.g.catalog())
	}
	absent := false
	if errors.Is(err, errNoTarget) {
		// A tool or prompt of a server that is down right now is decided
		// with what its name tells (server, upstream name, arguments): a
		// caller the policy allows learns that the server is unavailable
		// (absentServerMiddleware answers); to any other it does not exist.
		absent, target = true, ""
		in, err = v.g.absentInput(id, method, req.GetParams())
	}
	switch {
	case errors.Is(err, errNoTarget):
		return ctx, notFound(method, req.GetParams())
	case err != nil && shown:
		return ctx, deniedError(policy.Decision{Reasons: []string{err.Error()}})
	case err != nil: // undecidable arguments to a target the caller cannot list
		return ctx, notFound(method, req.GetParams())
	}
	fillRequest(in, req)
	d := v.g.decideObservedKeyed(ctx, policy.CacheKey{Identity: id.PolicyKey, Target: target}, in)
	if v.g.quarantined(in) && !d.AllowUnapproved && !absent {
		// Awaits approval (approval.go), and the policy does not let it
		// through: hidden from lists, refused on call. A caller the
		// policy would allow learns why; to any other it does not exist.
		if d.Allow {
			return ctx, awaitsApproval(in, d)
		}
		if !shown {
			return ctx, notFound(method, req.GetParams())
		}
	}
	switch {
	case d.Allow && (shown || absent):
		if !absent {
			v.g.countUnapprovedUse(ctx, in, d)
		}
		return withDecided(ctx, in, absent), nil
	case shown: // denied, with the policy's reasons: the caller lists it
		if fc, ok := ctx.Value(fastCallKey{}).(*fastCall); ok {
			fc.denied = &d // the fast path's step-up (serveFast)
		}
		return ctx, deniedError(d)
	default:
		return ctx, notFound(method, req.GetParams())
	}
}

// notFound answers a request for a target the caller cannot see exactly as
// one that does not exist (as the SDK answers an unknown one), whatever the
// policy decided about it: the answer is no existence oracle.
func notFound(method string, params mcp.Params) error {
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", p.Name)}
	case *mcp.GetPromptParams:
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown prompt %q", p.Name)}
	case *mcp.ReadResourceParams:
		return resourceNotFound(p.URI)
	case *mcp.SubscribeParams:
		return resourceNotFound(p.URI)
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: method + ": unknown target"}
}

// resourceNotFound is mcp.ResourceNotFoundError with its data encoded as
// JSON: the SDK's quotes the URI as Go does, so a URI with a NUL or
// another control character made data that is not JSON, the answer could
// not be sent, and the caller's session ended.
func resourceNotFound(uri string) error {
	var data bytes.Buffer
	enc := json.NewEncoder(&data)
	enc.SetEscapeHTML(false) // as the SDK's answer, for any other URI
	enc.Encode(map[string]string{"uri": uri})
	return &jsonrpc.Error{Code: mcp.CodeResourceNotFound, Message: "Resource not found", Data: bytes.TrimSuffix(data.Bytes(), []byte("\n"))}
}

func deniedError(d policy.Decision) error {
	reasons := d.Reasons
	if len(reasons) == 0 {
		reasons = []string{"denied by policy"}
	}
	data, _ := json.Marshal(map[string]any{"decision_id": d.ID, "reasons": reasons})
	return &jsonrpc.Error{Code: CodeDenied, Message: "mcpgate: denied by policy: " + strings.Join(reasons, "; "), Data: data}
}
