package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve runs the gateway on ln until ctx ends, then shuts down gracefully:
// it stops accepting connections, lets calls in flight finish within the
// configured shutdown grace period, closes client sessions (which ends their
// event streams) and finally the upstream sessions.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
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
