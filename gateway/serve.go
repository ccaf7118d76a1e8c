package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate/telemetry"
)

// readHeaderTimeout bounds the arrival of a request's headers.
const readHeaderTimeout = 10 * time.Second

// Serve runs the gateway on ln until ctx ends, then shuts down gracefully:
// it stops accepting connections, lets calls in flight finish within the
// configured shutdown grace period, closes client sessions (which ends their
// event streams) and finally the upstream sessions.
//
// Connections: at most limits.max_connections (see connLimiter); a
// keep-alive connection with no request in flight is closed after
// limits.idle_timeout; headers must arrive within readHeaderTimeout and a
// body within limits.body_read_timeout (readEnvelope). No write or overall
// read timeout: event streams last as long as their sessions.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	limited := newConnLimiter(ln, g.cfg.Limits.MaxConnections)
	limited.onEvict = func() {
		g.opts.Metrics.RecordLimit(ctx, telemetry.LimitMaxConnections, telemetry.LimitActionEvicted)
	}
	limited.onReject = func() {
		g.opts.Metrics.RecordLimit(ctx, telemetry.LimitMaxConnections, telemetry.LimitActionRefused)
	}
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       time.Duration(g.cfg.Limits.IdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ConnState:         limited.ConnState,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(limited) }()
	select {
	case err := <-served:
		g.Close(context.Background())
		return err
	case <-ctx.Done():
	}
	grace := time.Duration(g.cfg.ShutdownGrace)
	g.log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }()
	limited.closeIdle()
	err := g.Close(sctx)
	if serr := <-shut; serr != nil {
		srv.Close()
		err = errors.Join(err, serr)
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
