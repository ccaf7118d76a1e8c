package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serveLimited serves h on loopback behind a connLimiter of max.
func serveLimited(t *testing.T, max int, h http.Handler) (string, *connLimiter) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimiter(ln, max)
	srv := &http.Server{Handler: h, ConnState: l.ConnState, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), l
}

// waitIdle waits until the server has reported n connections of l idle.
// The server reports a connection idle on its own goroutine after it wrote
// the response, so a client can read the response first; there is no event
// to wait for but the report itself.
func waitIdle(t *testing.T, l *connLimiter, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d idle connections", n), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.idle) == n
	})
}

// get sends GET path on a keep-alive connection and returns the status.
func get(t *testing.T, c net.Conn, r *bufio.Reader, path string) int {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound, not a wait
	return c, bufio.NewReader(c)
}

// closedByServer reports whether the server closed c (a read returns EOF).
func closedByServer(r *bufio.Reader) bool {
	_, err := r.ReadByte()
	return err == io.EOF
}

// At the limit, a new connection closes the connection idle longest; with
// none idle, it is answered 503 and closed.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	inHandler := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			inHandler <- struct{}{}
			<-block
		}
		io.WriteString(w, "ok")
	})
	addr, limiter := serveLimited(t, 2, h)
	a, ar := dial(t, addr)
	b, br := dial(t, addr)
	for _, c := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{a, ar}, {b, br}} {
		if s := get(t, c.c, c.r, "/"); s != http.StatusOK {
			t.Fatalf("status %d", s)
		}
	}
	waitIdle(t, limiter, 2)
	get(t, b, br, "/") // b was used after a: a is idle longest
	waitIdle(t, limiter, 2)
	c, cr := dial(t, addr)
	if s := get(t, c, cr, "/"); s != http.StatusOK {
		t.Fatalf("third connection at the limit: status %d, want 200 after an idle one made room", s)
	}
	if !closedByServer(ar) {
		t.Error("the connection idle longest was not closed to make room")
	}
	if s := get(t, b, br, "/"); s != http.StatusOK {
		t.Errorf("the other idle connection: status %d", s)
	}

	// Two busy connections and nothing idle: a third is refused with 503.
	addr, _ = serveLimited(t, 2, h)
	for range 2 {
		x, _ := dial(t, addr)
		io.WriteString(x, "GET /block HTTP/1.1\r\nHost: gw\r\n\r\n")
		<-inHandler
	}
	y, yr := dial(t, addr)
	resp, err := http.ReadResponse(yr, nil)
	if err != nil {
		t.Fatalf("refused connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), "limits.max_connections") {
		t.Errorf("refused connection: %d %q, want 503 naming limits.max_connections with Retry-After", resp.StatusCode, body)
	}
	_ = y
}

// Idle keep-alive connections are closed after limits.idle_timeout, but a
// call in flight for longer than it (and longer than the body read
// timeout) is not cut.
func TestIdleTimeoutSparesCallsInFlight(t *testing.T) {
	t.Parallel()
	release, started := make(chan struct{}), make(chan struct{}, 1)
	up := startUpstream(t, echoServer("e", release, started))
	cfg := config.Default()
	cfg.Servers = []config.Server{upstreamConfig("e", up.URL)}
	cfg.Limits.IdleTimeout = config.Duration(100 * time.Millisecond)
	cfg.Limits.BodyReadTimeout = config.Duration(100 * time.Millisecond)
	addr := serveGateway(t, cfg)
	url := "http://" + addr + "/mcp"
	cs := connect(t, url, legacy, nil)
	result := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "e__slow", Arguments: map[string]any{}})
		result <- err
	}()
	<-started
	// An idle connection is closed: more than the idle timeout has passed.
	idle, idleR := dial(t, addr)
	if s := get(t, idle, idleR, "/healthz"); s != http.StatusOK {
		t.Fatalf("healthz: %d", s)
	}
	if !closedByServer(idleR) {
		t.Fatal("an idle keep-alive connection was not closed")
	}
	close(release)
	if err := <-result; err != nil {
		t.Errorf("a call in flight longer than the idle and body timeouts: %v", err)
	}
}

// A body that trickles in slower than limits.body_read_timeout is refused
// instead of holding the connection.
func TestSlowBodyRefused(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	up := startUpstream(t, echoServer("e", nil, nil))
	cfg.Servers = []config.Server{upstreamConfig("e", up.URL)}
	cfg.Limits.BodyReadTimeout = config.Duration(100 * time.Millisecond)
	c, r := dial(t, serveGateway(t, cfg))
	io.WriteString(c, "POST /mcp HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+
		"Content-Length: 100\r\n\r\n{\"jsonrpc\":")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("slow body: no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "cannot read the request body") {
		t.Errorf("slow body: %d %s, want 400 cannot read the request body", resp.StatusCode, body)
	}
}

// serveGateway runs a gateway for cfg with Serve, as mcpgate serve does (the
// HTTP server, its limits and timeouts), waits until every upstream was
// tried, and returns its address.
func serveGateway(t *testing.T, cfg *config.Config) string {
	t.Helper()
	g, err := New(cfg, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.Start(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := g.WaitSettled(wctx); err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String()
}
