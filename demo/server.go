package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	// Path is the HTTP path on which every demo server serves MCP.
	Path = "/mcp"

	// statelessSince is the first protocol version served by the stateless
	// handler; earlier versions (and requests without a version header, such
	// as initialize) go to the stateful one.
	statelessSince = "2026-07-28"

	// protocolVersionHeader is the MCP Streamable HTTP version header.
	protocolVersionHeader = "Mcp-Protocol-Version"

	// sessionIdleTimeout closes stateful sessions that see no request for this
	// long, so that abandoned dev clients do not accumulate.
	sessionIdleTimeout = 30 * time.Minute

	// shutdownTimeout bounds the graceful part of [Server.Close]; connections
	// still open after it are closed forcibly.
	shutdownTimeout = 5 * time.Second
)

// ErrNotLoopback is returned by [Start] when asked to listen on anything but
// 127.0.0.1.
var ErrNotLoopback = errors.New("must be 127.0.0.1")

// Server is a running demo upstream.
type Server struct {
	// Name identifies the upstream, for example "notes".
	Name string
	// URL is the MCP endpoint, http://127.0.0.1:PORT/mcp.
	URL string

	mcpServer  *mcp.Server
	httpServer *http.Server
	served     chan error // receives the result of http.Server.Serve
	stopOnDone func() bool
	closeOnce  sync.Once
	closeErr   error
}

// Start serves srv on addr at [Path] and returns once it is listening.
//
// addr must be "127.0.0.1:PORT"; port 0 picks an ephemeral port. Requests whose
// Mcp-Protocol-Version header is 2026-07-28 or later are served statelessly;
// all others by a stateful handler with sessions. Cancelling ctx closes the
// server as [Server.Close] does.
//
// srv should not be passed to Start more than once: closing either server
// closes every session of srv.
func Start(ctx context.Context, name string, srv *mcp.Server, addr string) (*Server, error) {
	ln, err := listen(ctx, name, addr)
	if err != nil {
		return nil, err
	}
	return serve(ctx, name, srv, ln, newMux(srv)), nil
}

// listen opens the loopback listener of a demo server.
func listen(ctx context.Context, name, addr string) (net.Listener, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, fmt.Errorf("demo: start %s: %w", name, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("demo: start %s: %w", name, err)
	}
	return ln, nil
}

// serve serves h on ln in the background; srv is the MCP server whose
// sessions close with it.
func serve(ctx context.Context, name string, srv *mcp.Server, ln net.Listener, h http.Handler) *Server {
	s := &Server{
		Name:      name,
		URL:       "http://" + ln.Addr().String() + Path,
		mcpServer: srv,
		served:    make(chan error, 1),
	}
	fresh := new(freshConns)
	s.httpServer = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         fresh.track,
	}
	// Shutdown waits for connections to go idle, but SSE streams and
	// subscriptions/listen requests stay busy until their session ends, and
	// connections yet to send a request count as busy for five seconds.
	s.httpServer.RegisterOnShutdown(s.closeSessions)
	s.httpServer.RegisterOnShutdown(fresh.closeAll)
	go func() { s.served <- s.httpServer.Serve(ln) }()
	s.stopOnDone = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s
}

// StartAll starts the notes and hr demo servers on ephemeral loopback ports,
// named "notes" and "hr", in that order. If one fails, the ones already
// started are closed.
func StartAll(ctx context.Context) ([]*Server, error) {
	specs := []struct {
		name string
		new  func() *mcp.Server
	}{
		{"notes", NewNotes},
		{"hr", NewHR},
	}
	var started []*Server
	for _, spec := range specs {
		s, err := Start(ctx, spec.name, spec.new(), "127.0.0.1:0")
		if err != nil {
			for _, prev := range started {
				_ = prev.Close()
			}
			return nil, err
		}
		started = append(started, s)
	}
	return started, nil
}

// Close shuts the server down: it stops accepting connections, closes every
// MCP session of the underlying server, and waits up to a few seconds for
// in-flight requests before closing connections forcibly. It is safe to call
// more than once; later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stopOnDone()
		s.closeErr = s.shutdown()
	})
	return s.closeErr
}

func (s *Server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := s.httpServer.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.httpServer.Close()
	}
	if serveErr := <-s.served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("demo: close %s: %w", s.Name, err)
	}
	return nil
}

func (s *Server) closeSessions() {
	for ss := range s.mcpServer.Sessions() {
		_ = ss.Close()
	}
}

// checkLoopback accepts only "127.0.0.1:PORT" with a numeric port.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip != netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
		return fmt.Errorf("address %q: %w", addr, ErrNotLoopback)
	}
	if _, err := netip.ParseAddrPort(host + ":" + port); err != nil {
		return fmt.Errorf("address %q: port must be a number", addr)
	}
	return nil
}

// newMux serves srv on [Path] only, routing each request by protocol era.
func newMux(srv *mcp.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Path, http.NewCrossOriginProtection().Handler(eraHandler(srv)))
	return mux
}

// eraHandler serves srv over Streamable HTTP in both protocol eras.
func eraHandler(srv *mcp.Server) http.Handler {
	getServer := func(*http.Request) *mcp.Server { return srv }
	// The event store makes notifications sent before a legacy client opens
	// its standalone SSE stream wait for it instead of being dropped.
	stateful := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		SessionTimeout: sessionIdleTimeout,
		EventStore:     mcp.NewMemoryEventStore(nil),
	})
	stateless := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Stateless:                    true,
		PropagateRequestCancellation: true,
	})
	return byEra(stateful, stateless)
}

// byEra sends requests at protocol version 2026-07-28 or later to stateless,
// and all others to stateful. Versions are dates, so they compare as strings.
func byEra(stateful, stateless http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(protocolVersionHeader) >= statelessSince {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
}

// freshConns tracks connections the server has read nothing from yet. Go's
// HTTP client often dials one it then leaves unused; Shutdown would close it
// only after five seconds, so closeAll closes it at once.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (f *freshConns) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state != http.StateNew {
		delete(f.conns, c)
		return
	}
	if f.conns == nil {
		f.conns = make(map[net.Conn]struct{})
	}
	f.conns[c] = struct{}{}
}

func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		_ = c.Close()
	}
	clear(f.conns)
}
