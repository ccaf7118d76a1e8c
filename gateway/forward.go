package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/codes"
)

// gatewayOwn reports whether the gateway sends method for itself rather
// than for one caller: such requests go over the pooled session even on an
// upstream with per-employee sessions (an upstream subscription is shared by
// every client session that subscribed).
func gatewayOwn(method string) bool {
	return method == "resources/subscribe" || method == "resources/unsubscribe"
}

// forward runs call, made for the caller as, against the upstream's session
// with the request's timeout, relaying what the upstream sends back for this
// request. The session is the pooled one, or as's own on an upstream whose
// credentials name the employee (sessions follow credentials). An upstream
// that forgot the session (404) gets a new one and the call is sent once
// more: the upstream refused it without running it.
func (g *Gateway) forward(ctx context.Context, ss *mcp.ServerSession, u *upstream, as *authn.Identity, method, target string, in mcp.Meta,
	call func(context.Context, *mcp.ClientSession, mcp.Meta) error) (err error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	ctx, meta, end := g.relay.begin(ctx, ss, u, in)
	defer end()
	ctx, span, meta := g.upstreamSpan(ctx, u, method, target, meta)
	start := time.Now()
	defer func() {
		outcome := telemetry.OutcomeOK
		if err != nil {
			outcome = telemetry.OutcomeError
			span.SetStatus(codes.Error, err.Error())
		}
		g.opts.Metrics.RecordClientOperation(ctx, time.Since(start), method, u.cfg.Name, outcome)
		span.End()
	}()

	if as == nil && u.employees != nil && !gatewayOwn(method) {
		return g.callError(u, fmt.Errorf("%w: server %q takes calls only for a verified caller", errUnavailable, u.cfg.Name))
	}
	if ctx, err = g.decideUpstreamScopes(ctx, u, as); err != nil {
		return err
	}
	if ctx, err = g.requireConnected(ctx, ss, u, as); err != nil {
		return g.callError(u, err)
	}
	var hint *scopeHint
	if u.cfg.Auth != nil && u.cfg.Auth.Kind == config.AuthOAuth && as != nil {
		ctx, hint = withScopeHint(ctx)
		defer func() {
			if asked := hint.get(); err != nil && len(asked) > 0 {
				err = g.stepUp(ctx, ss, u, as, asked, err)
			}
		}()
	}
	cs, release, err := u.acquire(ctx, as)
	if err != nil {
		return g.callError(u, err)
	}
	defer func() { release() }()
	tasks := mapsTasks(ctx, method)
	err = call(ctx, cs, upstreamMeta(cs, ss, in, meta, tasks))
	if errors.Is(err, mcp.ErrSessionMissing) && ctx.Err() == nil {
		u.log.Info("upstream session expired; re-initialising")
		var renewed *mcp.ClientSession
		if renewed, release, err = u.renewFor(ctx, as, cs, release); err == nil {
			cs = renewed
			err = call(ctx, cs, upstreamMeta(cs, ss, in, meta, tasks))
		}
	}
	if err != nil && !isAnswer(err) && !errors.Is(err, errHandOver) && !errors.Is(err, errBadAnswer) && ctx.Err() == nil {
		u.abandonFor(as, cs)
	}
	return g.callError(u, g.timeoutError(ctx, u, err))
}

// upstreamMeta returns a fresh copy of the _meta for one attempt (the SDK
// client adds its own protocol keys to it). A 2026-07-28 upstream states per
// request what the client can do, so it is told the calling client's
// capabilities, not the gateway's: it must not ask a client for input the
// client cannot give. An upstream that logs is asked for the client's log
// level, which a 2026-07-28 client states per request; for earlier clients
// the SDK server filters by the session's level, so everything is asked for.
//
// The tasks extension is declared upstream only where the gateway maps
// the upstream's tasks (tasks, tasks.go): elsewhere a task would reach a
// client that cannot poll it, so the call runs as a call.
func upstreamMeta(cs *mcp.ClientSession, ss *mcp.ServerSession, in, meta mcp.Meta, tasks bool) mcp.Meta {
	out := maps.Clone(meta)
	if !isStateless(cs) {
		return out
	}
	if out == nil {
		out = mcp.Meta{}
	}
	legacyClient := ss != nil && ss.InitializeParams() != nil && ss.InitializeParams().ProtocolVersion < statelessVersion
	if caps, ok := in[mcp.MetaKeyClientCapabilities]; ok {
		out[mcp.MetaKeyClientCapabilities] = caps
	} else if legacyClient {
		out[mcp.MetaKeyClientCapabilities] = legacyCapabilities(ss.InitializeParams().Capabilities)
	}
	if caps, ok := out[mcp.MetaKeyClientCapabilities]; ok && !tasks {
		out[mcp.MetaKeyClientCapabilities] = withoutTasks(caps)
	}
	if caps := cs.InitializeResult().Capabilities; caps != nil && caps.Logging != nil {
		if level, ok := in[mcp.MetaKeyLogLevel]; ok {
			out[mcp.MetaKeyLogLevel] = level
		} else if legacyClient {
			out[mcp.MetaKeyLogLevel] = "debug"
		}
	}
	return out
}

// legacyCapabilities states a 2025 client's capabilities in the per-request
// form of 2026-07-28.
func legacyCapabilities(c *mcp.ClientCapabilities) map[string]any {
	out := map[string]any{}
	if c == nil {
		return out
	}
	if c.Sampling != nil {
		out["sampling"] = c.Sampling
	}
	if c.Elicitation != nil {
		out["elicitation"] = c.Elicitation
	}
	if c.RootsV2 != nil {
		out["roots"] = c.RootsV2
	}
	return out
}

// isAnswer reports whether err is the upstream's own JSON-RPC error, which
// goes back to the client unchanged. The SDK reports some local transport
// failures as JSON-RPC errors too; their codes are not answers.
func isAnswer(err error) bool {
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) {
		return false
	}
	switch rpcErr.Code {
	case codeClientClosing, codeServerClosing, codeRejected:
		return false
	}
	return !errors.Is(err, mcp.ErrConnectionClosed) && !errors.Is(err, mcp.ErrSessionMissing)
}

// Codes the SDK's JSON-RPC layer uses for local failures (internal/jsonrpc2).
const (
	codeClientClosing = -32003
	codeServerClosing = -32004
	codeRejected      = -32005
)

func (g *Gateway) timeoutError(ctx context.Context, u *upstream, err error) error {
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: server %q did not answer within %s (servers[].timeout)", errUnavailable, u.cfg.Name, u.timeout())
	}
	return err
}

// callError maps a failed upstream call to what the client sees: the
// upstream's own JSON-RPC errors and cancellations pass through; anything
// else becomes a JSON-RPC error naming the server. Details of the failure
// (addresses, transport errors) stay in the gateway's log and /readyz.
func (g *Gateway) callError(u *upstream, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, errHandOver) {
		return err
	}
	if isAnswer(err) {
		// The upstream's error as it sent it, without the SDK client's
		// "calling tools/call: …" wrapping.
		var rpcErr *jsonrpc.Error
		errors.As(err, &rpcErr)
		return rpcErr
	}
	msg := fmt.Sprintf("mcpgate: server %q is unavailable; try again later", u.cfg.Name)
	switch {
	case errors.Is(err, errUnavailable):
		msg = "mcpgate: " + err.Error()
	case errors.Is(err, errAnswerTooLarge):
		msg = fmt.Sprintf("mcpgate: server %q answered with a message over the gateway's bound of %s (limits.max_upstream_message_bytes); the call failed", u.cfg.Name, config.ByteSize(u.maxMessage))
		u.log.Warn("upstream call failed", "err", err)
	case errors.Is(err, errBadAnswer):
		msg = fmt.Sprintf("mcpgate: server %q answered the call with something that is not a usable MCP answer; the call failed (the gateway's log says what)", u.cfg.Name)
		u.log.Warn("upstream call failed", "err", err)
	case errors.Is(err, errTokenFetch):
		msg = "mcpgate: " + noCredential(u.cfg.Name)
		u.log.Warn("upstream call failed", "err", err)
	default:
		u.log.Warn("upstream call failed", "err", err)
	}
	data, _ := json.Marshal(map[string]string{"server": u.cfg.Name})
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: msg, Data: data}
}

func (g *Gateway) toolHandler(e *toolEntry) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if err := g.checkDecided(ctx, e.up, e.upstreamName); err != nil {
			return nil, err
		}
		p := req.Params
		var res *mcp.CallToolResult
		err := g.forward(ctx, req.Session, e.up, identityOf(req), "tools/call", e.upstreamName, p.Meta, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) (err error) {
			params := &mcp.CallToolParams{Meta: meta, Name: e.upstreamName,
				InputResponses: p.InputResponses, RequestState: p.RequestState}
			if len(p.Arguments) > 0 {
				params.Arguments = p.Arguments
			}
			res, err = cs.CallTool(withParamBindings(ctx, e.params), params)
			return err
		})
		if err != nil {
			return nil, err
		}
		return res, nil
	}
}

func (g *Gateway) promptHandler(e *promptEntry) mcp.PromptHandler {
	return func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		if err := g.checkDecided(ctx, e.up, e.upstreamName); err != nil {
			return nil, err
		}
		p := req.Params
		var res *mcp.GetPromptResult
		err := g.forward(ctx, req.Session, e.up, identityOf(req), "prompts/get", e.upstreamName, p.Meta, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) (err error) {
			res, err = cs.GetPrompt(ctx, &mcp.GetPromptParams{Meta: meta, Name: e.upstreamName, Arguments: p.Arguments,
				InputResponses: p.InputResponses, RequestState: p.RequestState})
			return err
		})
		if err != nil {
			return nil, err
		}
		return res, nil
	}
}

func (g *Gateway) resourceHandler(u *upstream) mcp.ResourceHandler {
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		if err := g.checkDecided(ctx, u, ""); err != nil {
			return nil, err
		}
		p := req.Params
		var res *mcp.ReadResourceResult
		err := g.forward(ctx, req.Session, u, identityOf(req), "resources/read", "", p.Meta, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) (err error) {
			res, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{Meta: meta, URI: p.URI,
				InputResponses: p.InputResponses, RequestState: p.RequestState})
			return err
		})
		if err != nil {
			return nil, err
		}
		return res, nil
	}
}
