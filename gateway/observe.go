package gateway

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/baggage"

	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

const instrumentation = "github.com/mcpgate/mcpgate/gateway"

func (o *Options) tracer() trace.Tracer {
	if o.TracerProvider == nil {
		return noop.NewTracerProvider().Tracer(instrumentation)
	}
	return o.TracerProvider.Tracer(instrumentation)
}

func (o *Options) propagator() propagation.TextMapPropagator {
	if o.Propagator == nil {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return o.Propagator
}

// observe is the outermost receiving middleware of every view: one SERVER
// span per MCP request, named "{mcp.method.name} {target}", whose parent is
// the trace context in params._meta when the client sent one (normative in
// 2026-07-28) and otherwise the HTTP request's; and the MCP server
// operation metric.
func (g *Gateway) observe(next mcp.MethodHandler) mcp.MethodHandler {
	tracer := g.tracer
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if _, ok := req.(interface{ GetSession() mcp.Session }); !ok || isNotification(method) {
			return next(ctx, method, req)
		}
		meta := paramsMeta(req)
		if mctx := telemetry.ExtractMeta(ctx, g.propagator, meta); trace.SpanContextFromContext(mctx).IsValid() {
			ctx = mctx
		}
		target := requestTarget(req)
		name := method
		if target != "" {
			name += " " + target
		}
		attrs := serverAttributes(method, target, req)
		if id, ok := ctx.Value(requestIDKey{}).(string); ok {
			attrs = append(attrs, semconv.JSONRPCRequestID(id))
		}
		if id := identityOf(req); id != nil {
			if a, ok := telemetry.IdentityAttr(g.opts.SpanIdentity, id.Issuer, id.Subject); ok {
				attrs = append(attrs, a)
			}
		}
		ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		defer span.End()
		if sc := span.SpanContext(); sc.HasTraceID() {
			ctx = policy.WithTraceID(ctx, sc.TraceID().String())
		}
		start := time.Now()
		res, err := next(ctx, method, req)
		outcome := finishSpan(span, res, err)
		// Metric labels stay bounded: a name not in the catalog (the
		// client's to choose) is recorded without a tool label.
		server := g.serverOf(req)
		tool := target
		if server == "" {
			tool = ""
		}
		g.opts.Metrics.RecordServerOperation(ctx, time.Since(start), method, server, tool, outcome)
		return res, err
	}
}

// paramsMeta returns a request's _meta; requests without params (a typed
// nil) have none.
func paramsMeta(req mcp.Request) map[string]any {
	p := req.GetParams()
	if p == nil || reflect.ValueOf(p).IsNil() {
		return nil
	}
	return p.GetMeta()
}

func isNotification(method string) bool {
	return len(method) > 14 && method[:14] == "notifications/"
}

// requestTarget is the tool or prompt name of a request (bounded: names
// from the catalog), or "".
func requestTarget(req mcp.Request) string {
	switch r := req.(type) {
	case *mcp.CallToolRequest:
		return r.Params.Name
	case *mcp.GetPromptRequest:
		return r.Params.Name
	}
	return ""
}

func serverAttributes(method, target string, req mcp.Request) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.McpMethodNameKey.String(method)}
	if ss, _ := req.GetSession().(*mcp.ServerSession); ss != nil {
		if id := ss.ID(); id != "" {
			attrs = append(attrs, semconv.McpSessionID(id))
		}
		if p := ss.InitializeParams(); p != nil {
			attrs = append(attrs, semconv.McpProtocolVersion(p.ProtocolVersion))
		}
	}
	switch req.(type) {
	case *mcp.CallToolRequest:
		attrs = append(attrs, semconv.GenAIToolName(target), semconv.GenAIOperationNameExecuteTool)
	case *mcp.GetPromptRequest:
		attrs = append(attrs, semconv.GenAIPromptName(target))
	}
	return attrs
}

// finishSpan sets the span's outcome per the MCP semantic conventions:
// error.type is the JSON-RPC code, or tool_error for a tool's own error.
func finishSpan(span trace.Span, res mcp.Result, err error) telemetry.Outcome {
	var rpcErr *jsonrpc.Error
	switch {
	case errors.As(err, &rpcErr):
		code := strconv.FormatInt(rpcErr.Code, 10)
		span.SetAttributes(semconv.ErrorTypeKey.String(code), semconv.RPCResponseStatusCode(code))
		span.SetStatus(codes.Error, rpcErr.Message)
		if rpcErr.Code == CodeDenied {
			return telemetry.OutcomeDenied
		}
		return telemetry.OutcomeError
	case err != nil:
		span.SetAttributes(semconv.ErrorTypeKey.String("_OTHER"))
		span.SetStatus(codes.Error, err.Error())
		return telemetry.OutcomeError
	}
	if r, ok := res.(*mcp.CallToolResult); ok && r.IsError {
		span.SetAttributes(semconv.ErrorTypeKey.String("tool_error"))
		span.SetStatus(codes.Error, "tool_error")
		return telemetry.OutcomeToolError
	}
	return telemetry.OutcomeOK
}

// serverOf is the upstream a request goes to, for metric labels.
func (g *Gateway) serverOf(req mcp.Request) string {
	cat := g.catalog()
	switch r := req.(type) {
	case *mcp.CallToolRequest:
		if e := cat.tool(r.Params.Name); e != nil {
			return e.up.cfg.Name
		}
	case *mcp.GetPromptRequest:
		if e := cat.prompt(r.Params.Name); e != nil {
			return e.up.cfg.Name
		}
	}
	return ""
}

// upstreamSpan starts the CLIENT span of one upstream call and puts its
// trace context into the forwarded _meta (replacing the client's), so the
// upstream's spans join the trace.
//
// The client's baggage stays at the gateway: it is the client's data, and
// nothing of the client's request but the call itself reaches an upstream
// (the returned context, which also carries the upstream HTTP request, has
// none).
func (g *Gateway) upstreamSpan(ctx context.Context, u *upstream, method, target string, meta mcp.Meta) (context.Context, trace.Span, mcp.Meta) {
	ctx = baggage.ContextWithoutBaggage(ctx)
	name := method
	if target != "" {
		name += " " + target
	}
	ctx, span := g.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.McpMethodNameKey.String(method), telemetry.AttrServer.String(u.cfg.Name)))
	if target != "" && method == "tools/call" {
		span.SetAttributes(semconv.GenAIToolName(target))
	}
	return ctx, span, telemetry.InjectMeta(ctx, g.propagator, meta)
}

// requestIDKey holds the JSON-RPC id of a 2026-07-28 request, read from the
// body at the HTTP layer: go-sdk v1.8.0 keeps it under an unexported context
// key. Sessions of the 2025 revisions handle their requests outside the HTTP
// request's context, so their spans go without it.
type requestIDKey struct{}

// withRequestID puts the id of a stateless POST, from its envelope, where
// the MCP span finds it. Only when the request is being traced (its HTTP
// span records).
func (g *Gateway) withRequestID(r *http.Request) *http.Request {
	e := envelopeOf(r.Context())
	if e == nil || !e.hasID() || !trace.SpanFromContext(r.Context()).IsRecording() {
		return r
	}
	id := strings.Trim(string(e.ID), `"`)
	return r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
}
