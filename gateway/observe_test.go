package gateway

import (
	"context"
	"testing"

	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTraceCrossesTheGateway checks the span tree of a tools/call: a SERVER
// span for the client's request (child of the trace context the client put
// in _meta), a CLIENT span for the upstream call, and the upstream receiving
// that CLIENT span's context in its _meta, so its spans join the trace.
func TestTraceCrossesTheGateway(t *testing.T) {
	t.Parallel()
	seen := make(chan mcp.Meta, 1)
	up := startLegacyUpstream(t, metaServer(seen))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	opts := testOptions()
	opts.TracerProvider = tp
	gw := startGateway(t, opts, upstreamConfig("m", up.URL))
	cs := connect(t, gw.URL, modern, nil)

	// The client's own trace context, as a 2026-07-28 client sends it.
	clientTrace := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled})
	meta := telemetry.InjectMeta(trace.ContextWithSpanContext(context.Background(), clientTrace), opts.propagator(), nil)
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "m__meta", Meta: meta}); err != nil {
		t.Fatal(err)
	}
	got := <-seen

	var server, client sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch {
		case s.Name() == "tools/call m__meta" && s.SpanKind() == trace.SpanKindServer:
			server = s
		case s.Name() == "tools/call meta" && s.SpanKind() == trace.SpanKindClient:
			client = s
		}
	}
	if server == nil || client == nil {
		t.Fatalf("spans %v: want a SERVER and a CLIENT span", rec.Ended())
	}
	if server.SpanContext().TraceID() != clientTrace.TraceID() || server.Parent().SpanID() != clientTrace.SpanID() {
		t.Errorf("SERVER span is not the child of the client's _meta trace context: %v parent %v", server.SpanContext(), server.Parent())
	}
	if client.SpanContext().TraceID() != clientTrace.TraceID() || client.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("CLIENT span %v (parent %v) is not the child of the SERVER span %v", client.SpanContext(), client.Parent(), server.SpanContext())
	}
	upCtx := trace.SpanContextFromContext(telemetry.ExtractMeta(context.Background(), opts.propagator(), got))
	if upCtx.TraceID() != clientTrace.TraceID() || upCtx.SpanID() != client.SpanContext().SpanID() {
		t.Errorf("the upstream received trace context %v in _meta, want the CLIENT span %v", upCtx, client.SpanContext())
	}
	var method string
	for _, a := range server.Attributes() {
		if a.Key == "mcp.method.name" {
			method = a.Value.AsString()
		}
	}
	if method != "tools/call" {
		t.Errorf("SERVER span attributes %v", server.Attributes())
	}
}
