//go:build linux

package sidebyside

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/perf/load"
)

// NoopTool is the upstream's tool: no arguments, an empty result, and
// readOnlyHint so that the shipped library's "read" level suffices.
const NoopTool = "noop"

// upstreamHandler serves a go-sdk server with NoopTool on /mcp in both
// eras: stateless for 2026-07-28 requests, sessions for the rest.
func upstreamHandler() http.Handler {
	s := mcp.NewServer(&mcp.Implementation{Name: "sidebyside-upstream", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{
		Name:        NoopTool,
		InputSchema: json.RawMessage(`{"type":"object"}`),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{}}, nil
	})
	get := func(*http.Request) *mcp.Server { return s }
	stateful := mcp.NewStreamableHTTPHandler(get, nil)
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true})
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Mcp-Protocol-Version") >= load.Version2026 {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
	return mux
}

// ServeUpstream is the hidden subcommand that runs the upstream: it listens
// on a free loopback port, prints "listening http://ADDR/mcp" to stdout
// and serves until killed.
func ServeUpstream(stdout io.Writer) error {
	return serve(upstreamHandler(), "/mcp", stdout)
}

// ServeProxy is the hidden subcommand that runs a bare
// httputil.ReverseProxy to target (the upstream's base URL, without /mcp):
// it prints "listening http://ADDR" and serves until killed. Its transport
// keeps up to 64 idle upstream connections (the default keeps 2, which at
// concurrency 16 would open a connection per call and lower the floor
// mcpgate is compared with).
func ServeProxy(target string, stdout io.Writer) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("proxy: target %q: must be an http URL", target)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 64, 64
	rp.Transport = t
	return serve(rp, "", stdout)
}

// serve serves h on a free loopback port. It closes connections idle for
// upstreamIdleTimeout, as many servers do, those that never sent a request
// too (a client's transport may dial one for a request that another
// connection then served): after a soak, the gateway's idle connections to
// it end then rather than after its own 90 s.
func serve(h http.Handler, path string, stdout io.Writer) error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening http://%s%s\n", ln.Addr(), path)
	return (&http.Server{Handler: h, IdleTimeout: upstreamIdleTimeout, ReadHeaderTimeout: upstreamIdleTimeout}).Serve(ln)
}

const upstreamIdleTimeout = 5 * time.Second
