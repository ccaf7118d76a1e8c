package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"

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
	// With baggage, which must not travel on to the upstream.
	member, _ := baggage.NewMember("client.secret", "s3cret")
	bag, _ := baggage.New(member)
	cctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), clientTrace), bag)
	meta := telemetry.InjectMeta(cctx, opts.propagator(), nil)
	if _, ok := meta["baggage"]; !ok {
		t.Fatalf("the client's _meta has no baggage: %v", meta)
	}
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
	if b, ok := got["baggage"]; ok {
		t.Errorf("the upstream received the client's baggage in _meta: %v", b)
	}
	for _, h := range up.seenHeaders() {
		if b := h.Get("Baggage"); b != "" {
			t.Errorf("the upstream received the client's baggage header %q", b)
		}
	}
	// The same context travels in the upstream request's HTTP headers.
	hdrs := up.seenHeaders()
	last := hdrs[len(hdrs)-1]
	if hdr := last.Get("Traceparent"); !strings.Contains(hdr, client.SpanContext().SpanID().String()) {
		t.Errorf("upstream traceparent header %q, want the CLIENT span %s", hdr, client.SpanContext().SpanID())
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

// TestTraceContextFromHTTPHeaders: a 2026-07-28 request whose trace context
// is only in the traceparent header gets an HTTP SERVER span and an MCP
// SERVER span in that trace.
func TestTraceContextFromHTTPHeaders(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("e", nil, nil))
	rec, ended := tracetest.NewSpanRecorder(), endSignal(make(chan struct{}, 1))
	opts := testOptions()
	opts.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSpanProcessor(ended))
	gw := startGateway(t, opts, upstreamConfig("e", up.URL))
	const traceparent = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"
	hc := &http.Client{Transport: headerTransport{http.Header{"Traceparent": {traceparent}}}}
	cs := connectWith(t, gw.URL, modern, nil, hc)
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "e__echo"}); err != nil {
		t.Fatal(err)
	}
	// The HTTP server span ends after the response reached the client:
	// look again each time a span ends.
	var httpSpan, mcpSpan sdktrace.ReadOnlySpan
	for {
		for _, s := range rec.Ended() {
			if s.Name() == "tools/call e__echo" {
				mcpSpan = s
			}
		}
		for _, s := range rec.Ended() {
			if s.Name() == "POST /mcp" && mcpSpan != nil && s.SpanContext().SpanID() == mcpSpan.Parent().SpanID() {
				httpSpan = s
			}
		}
		if httpSpan != nil {
			break
		}
		select {
		case <-ended:
		case <-ctxTimeout(t).Done():
			t.Fatalf("no MCP span whose parent is the HTTP span in %v", rec.Ended())
		}
	}
	if got := httpSpan.SpanContext().TraceID().String(); got != "0102030405060708090a0b0c0d0e0f10" {
		t.Errorf("HTTP span trace %s, want the traceparent header's", got)
	}
}

// TestSpanIdentity: SERVER spans carry the caller as configured, hashed by
// default in this test, never the token.
func TestSpanIdentity(t *testing.T) {
	t.Parallel()
	for mode, wantKey := range map[telemetry.IdentityMode]string{
		telemetry.IdentityOff:     "",
		telemetry.IdentityHashed:  "enduser.pseudo.id",
		telemetry.IdentitySubject: "enduser.id",
	} {
		t.Run(string(mode), func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			url, idp, _ := signedInGatewayOpts(t, echoServer("up", nil, nil), testPolicy, func(o *Options) {
				o.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
				o.SpanIdentity = mode
			})
			hc := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "alice")}}}}
			cs := connectWith(t, url, legacy, nil, hc)
			if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo"}); err != nil {
				t.Fatal(err)
			}
			var got map[string]string
			for _, s := range rec.Ended() {
				if s.Name() == "tools/call up__echo" {
					got = map[string]string{}
					for _, a := range s.Attributes() {
						got[string(a.Key)] = a.Value.Emit()
					}
				}
			}
			if got == nil {
				var names []string
				for _, s := range rec.Ended() {
					names = append(names, s.Name())
				}
				t.Fatalf("no SERVER span in %v", names)
			}
			for k, v := range got {
				if strings.Contains(v, "eyJ") {
					t.Errorf("span attribute %s looks like a token: %s", k, v)
				}
			}
			switch {
			case wantKey == "" && (got["enduser.id"] != "" || got["enduser.pseudo.id"] != ""):
				t.Errorf("identity on the span with mode off: %v", got)
			case wantKey == "enduser.id" && got[wantKey] != "alice":
				t.Errorf("%s = %q, want alice", wantKey, got[wantKey])
			case wantKey == "enduser.pseudo.id" && (len(got[wantKey]) != 16 || strings.Contains(got[wantKey], "alice")):
				t.Errorf("%s = %q, want a 16-hex hash", wantKey, got[wantKey])
			}
		})
	}
}

// TestDeniedCallSpans: a call the policy denies has a SERVER span marked
// with the JSON-RPC error code and a denied policy span, and no CLIENT span:
// nothing went upstream.
func TestDeniedCallSpans(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	url, idp, _ := signedInGatewayOpts(t, echoServer("up", nil, nil), testPolicy, func(o *Options) {
		o.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	})
	hc := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "alice")}}}}
	cs := connectWith(t, url, modern, nil, hc)
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{"word": "forbidden"}}); err == nil {
		t.Fatal("forbidden call allowed")
	}
	var server, policySpan sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "tools/call up__echo":
			if s.SpanKind() == trace.SpanKindServer {
				server = s
			}
		case "mcpgate.policy call":
			policySpan = s
		case "tools/call echo":
			t.Errorf("a CLIENT span for a denied call: %v", s.Name())
		}
	}
	if server == nil || policySpan == nil {
		t.Fatalf("spans %v", rec.Ended())
	}
	attrs := map[string]string{}
	for _, a := range server.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["error.type"] != "-32001" || server.Status().Code.String() != "Error" {
		t.Errorf("denied SERVER span attributes %v status %v", attrs, server.Status())
	}
	if policySpan.Parent().SpanID() != server.SpanContext().SpanID() || policySpan.SpanContext().TraceID() != server.SpanContext().TraceID() {
		t.Errorf("policy span is not a child of the SERVER span")
	}
}

// TestUpstreamSpansJoinTheTrace: an upstream that records spans from the
// trace context it receives in _meta (as an instrumented go-sdk server
// does) puts them under the gateway's CLIENT span, in the client's trace;
// the MCP span of a 2026-07-28 request carries its JSON-RPC id.
func TestUpstreamSpansJoinTheTrace(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prop := (&Options{}).propagator()
	s := mcp.NewServer(&mcp.Implementation{Name: "traced"}, nil)
	s.AddTool(&mcp.Tool{Name: "work", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ctx = telemetry.ExtractMeta(ctx, prop, req.Params.Meta)
		_, span := tp.Tracer("upstream").Start(ctx, "upstream work", trace.WithSpanKind(trace.SpanKindServer))
		span.End()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
	})
	up := startUpstream(t, s)
	opts := testOptions()
	opts.TracerProvider = tp
	gw := startGateway(t, opts, upstreamConfig("t", up.URL))
	cs := connect(t, gw.URL, modern, nil)
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "t__work"}); err != nil {
		t.Fatal(err)
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range rec.Ended() {
		byName[sp.Name()+"/"+sp.SpanKind().String()] = sp
	}
	server, client, upstream := byName["tools/call t__work/server"], byName["tools/call work/client"], byName["upstream work/server"]
	if server == nil || client == nil || upstream == nil {
		t.Fatalf("spans %v", byName)
	}
	if upstream.SpanContext().TraceID() != server.SpanContext().TraceID() || upstream.Parent().SpanID() != client.SpanContext().SpanID() ||
		client.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("span tree: server %v, client %v (parent %v), upstream %v (parent %v)",
			server.SpanContext().SpanID(), client.SpanContext().SpanID(), client.Parent().SpanID(),
			upstream.SpanContext().SpanID(), upstream.Parent().SpanID())
	}
	var id string
	for _, a := range server.Attributes() {
		if a.Key == "jsonrpc.request.id" {
			id = a.Value.Emit()
		}
	}
	if id == "" {
		t.Errorf("no jsonrpc.request.id on the MCP span: %v", server.Attributes())
	}
}

// endSignal is a span processor that rings when a span ends. Its buffer of
// one coalesces rings: a waiter looks at the recorder again after each.
type endSignal chan struct{}

func (endSignal) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (e endSignal) OnEnd(sdktrace.ReadOnlySpan) {
	select {
	case e <- struct{}{}:
	default:
	}
}

func (endSignal) Shutdown(context.Context) error   { return nil }
func (endSignal) ForceFlush(context.Context) error { return nil }

// TestCachedLookupsOnTheRequestSpans: a token verified before and a
// decision the cache served are map lookups, recorded on the request's
// spans (the HTTP span, the MCP span) with their attributes, not as spans
// of their own; a verification and an evaluation that happen have theirs.
func TestCachedLookupsOnTheRequestSpans(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	url, idp, _ := signedInGatewayOpts(t, echoServer("up", nil, nil), shownSlowPolicy, func(o *Options) {
		o.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	})
	hc := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "alice")}}}}
	cs := connectWith(t, url, modern, nil, hc)
	attrs := func(s sdktrace.ReadOnlySpan) map[string]string {
		m := map[string]string{}
		for _, a := range s.Attributes() {
			m[string(a.Key)] = a.Value.Emit()
		}
		return m
	}
	var sawPolicySpan bool
	eventually(t, "a call whose token and decision both came from the caches", func() bool {
		before := len(rec.Ended())
		if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{"word": "hi"}}); err != nil {
			t.Fatal(err)
		}
		var mcpSpan, httpSpan sdktrace.ReadOnlySpan
		names := map[string]bool{}
		for _, s := range rec.Ended()[before:] {
			names[s.Name()] = true
			switch {
			case s.Name() == "tools/call up__echo" && s.SpanKind() == trace.SpanKindServer:
				mcpSpan = s
			case strings.HasPrefix(s.Name(), "POST") && s.SpanKind() == trace.SpanKindServer:
				httpSpan = s
			case s.Name() == "mcpgate.policy call":
				sawPolicySpan = true
				if a := attrs(s); a["mcpgate.policy.allow"] != "true" || a["mcpgate.policy.decision_id"] == "" {
					t.Errorf("policy span attributes %v", a)
				}
			}
		}
		if mcpSpan == nil || httpSpan == nil {
			t.Fatalf("no MCP or HTTP SERVER span in %v", names)
		}
		m, h := attrs(mcpSpan), attrs(httpSpan)
		if m["mcpgate.policy.cached"] != "true" || h["mcpgate.authn.cached"] != "true" {
			return false
		}
		if names["mcpgate.policy call"] || names["mcpgate.authn verify token"] {
			t.Errorf("spans %v of a call served by the caches", names)
		}
		if m["mcpgate.policy.allow"] != "true" || m["mcpgate.policy.decision_id"] == "" || h["mcpgate.authn.outcome"] != "ok" {
			t.Errorf("MCP span %v, HTTP span %v: want the decision's and the verification's attributes", m, h)
		}
		return true
	})
	verified := false
	for _, s := range rec.Ended() {
		verified = verified || s.Name() == "mcpgate.authn verify token" && attrs(s)["mcpgate.authn.cached"] == "false"
	}
	if !sawPolicySpan || !verified {
		t.Errorf("the first call's evaluation (%v) and the token's verification (%v) have no span", sawPolicySpan, verified)
	}
}
