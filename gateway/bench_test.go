package gateway

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkToolCall measures one tools/call of a go-sdk echo upstream, all on
// loopback in this process, three ways: the upstream called directly, through
// a bare httputil.ReverseProxy (the floor for any proxy), and through
// mcpgate. Compare the ratios, not the absolute times. cpu-ms/op is the
// process's user+system CPU per call (client, proxy and upstream together).
func BenchmarkToolCall(b *testing.B) {
	up := startUpstream(b, echoServer("echo", nil, nil))
	target, _ := url.Parse(up.URL)
	proxy := newLoopbackServer(b, httputil.NewSingleHostReverseProxy(target))
	gw := startGateway(b, nil, upstreamConfig("echo", up.URL))
	// mcpgate without its fast path: every message decoded and encoded
	// by the SDK's server and client, as before issue #14.
	sdkOpts := testOptions()
	sdkOpts.SDKForwarding = true
	viaSDK := startGateway(b, sdkOpts, upstreamConfig("echo", up.URL))
	// mcpgate with sign-in (token verified, cached) and a policy decision
	// per call, logged; its upstream is its own echo server.
	full, idp, _ := signedInGateway(b)
	token := http.Header{"Authorization": {"Bearer " + tokenFor(b, idp, "alice")}}
	// mcpgate with tracing on: the OTel SDK, every span sampled and
	// exported in batches (to an exporter that drops them).
	tracedOpts := testOptions()
	tracedOpts.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	traced := startGateway(b, tracedOpts, upstreamConfig("echo", up.URL))
	paths := []struct {
		name, url, tool string
		header          http.Header
	}{
		{"direct", up.URL, "echo", nil},
		{"reverseproxy", proxy.URL + "/mcp", "echo", nil},
		{"mcpgate", gw.URL, "echo__echo", nil},
		{"mcpgate-sdk-forwarding", viaSDK.URL, "echo__echo", nil},
		{"mcpgate-traced", traced.URL, "echo__echo", nil},
		{"mcpgate-signin-policy", full, "up__echo", token},
	}
	for _, version := range []string{legacy, modern} {
		for _, p := range paths {
			b.Run(version+"/"+p.name, func(b *testing.B) {
				cs := connectWith(b, p.url, version, nil, &http.Client{Transport: headerTransport{p.header}})
				params := &mcp.CallToolParams{Name: p.tool, Arguments: map[string]any{"message": "hello"}}
				ctx := context.Background()
				before := cpuTime()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := cs.CallTool(ctx, params); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-before)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardExporter drops spans: the benchmark measures producing them.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
