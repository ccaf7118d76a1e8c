package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate/authn/authserver"
	"github.com/mcpgate/mcpgate/authn/websession"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/console"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/policy"
)

// consoleMount serves the console on the gateway's listener once it is
// built: its routes are registered before the gateway (gateway.New reads
// them), the console after (it reads the gateway). Until then, and if it
// is never set, it refuses: nothing is served open.
type consoleMount struct{ h http.Handler }

func (m *consoleMount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.h == nil {
		http.Error(w, "the console is starting", http.StatusServiceUnavailable)
		return
	}
	m.h.ServeHTTP(w, r)
}

// mountConsole registers the console's paths on the gateway's listener
// when it is served there.
func mountConsole(opts *gateway.Options, cfg *config.Config) *consoleMount {
	if !cfg.Console.Enabled || cfg.Console.ListenAddress != "" {
		return nil
	}
	m := &consoleMount{}
	routes(opts)
	opts.Routes[console.Path] = m
	opts.Routes[console.Path+"/"] = m
	return m
}

// startConsole builds the console of cfg.Console for gw: on the gateway's
// listener (mount), or on a listener of its own with its own sign-in at
// console.public_url, served until the returned stop is called.
func startConsole(ctx context.Context, cfg *config.Config, pages *employeePages, as *authserver.Server, engine *policy.Engine,
	gw *gateway.Gateway, mount *consoleMount, log *slog.Logger) (stop func(), err error) {
	if !cfg.Console.Enabled {
		return func() {}, nil
	}
	if pages.web == nil || engine == nil || engine.Recent() == nil {
		// Validation requires web_sign_in and serve builds the engine with
		// its ring: this is a wiring error, refused rather than served open.
		return nil, errors.New("console.enabled: the console needs web sign-in and the policy engine's recent decisions")
	}
	opts := console.Options{Backend: gw, Authorizer: engine, Sessions: pages.web, Recent: engine.Recent(),
		TraceURL: cfg.Console.TraceURL, Logger: log}
	if as != nil {
		opts.Grants = as
	}
	if pages.connect != nil {
		opts.Connections, opts.ConnectionsIssuer = pages.connect, pages.issuer
	}
	if cfg.Console.ListenAddress == "" {
		c, err := console.New(opts)
		if err != nil {
			return nil, err
		}
		mount.h = c.Handler()
		return func() {}, nil
	}
	return serveConsoleListener(ctx, cfg, pages, gw, opts, log)
}

// serveConsoleListener serves the console and its sign-in on
// console.listen_address.
func serveConsoleListener(ctx context.Context, cfg *config.Config, pages *employeePages, gw *gateway.Gateway, opts console.Options, log *slog.Logger) (func(), error) {
	wo := pages.webOpts
	// Cookies of its own: browsers do not scope them by port, and on one
	// host each listener's sign-in would end the other's.
	wo.BaseURL, wo.Home, wo.CookieName = cfg.ConsoleBaseURL(), console.Path, "mcpgate-console"
	web, err := websession.New(ctx, wo)
	if err != nil {
		return nil, fmt.Errorf("console.public_url: %w", err)
	}
	opts.Sessions = web
	c, err := console.New(opts)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for _, p := range web.Paths() {
		mux.Handle(p, web.Handler())
	}
	mux.Handle(console.Path, c.Handler())
	mux.Handle(console.Path+"/", c.Handler())
	mux.Handle("/{$}", http.RedirectHandler(console.Path, http.StatusSeeOther))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Console.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("console.listen_address: %w", err)
	}
	// The main listener's limits, but for event streams, which the console
	// has none of: a page is written within a minute (an exploration stops
	// at 20 s).
	ln, connState := gw.LimitConnections(ln)
	srv := &http.Server{Handler: gw.ClientAddressed(mux), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: cfg.Limits.BodyReadTimeout.Std(), WriteTimeout: time.Minute,
		IdleTimeout: cfg.Limits.IdleTimeout.Std(), MaxHeaderBytes: 64 << 10, ConnState: connState}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("console listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("console listening", "addr", ln.Addr().String(), "url", cfg.ConsoleBaseURL()+console.Path)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}
