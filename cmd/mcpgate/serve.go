package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/gateway"
)

const serveAbout = `Run the gateway: load and validate the configuration, connect to its
upstream servers in the background and serve /mcp (to callers with an access
token from one of auth.issuers), the protected-resource metadata, /healthz
and /readyz on the listen address until SIGINT or SIGTERM, then drain within
shutdown_grace. Logs go to stderr.`

func runServe(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("serve", "--config FILE [flags]", serveAbout, e)
	path := configFlag(fs)
	var lf logFlags
	lf.register(fs, formatJSON)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if code, ok := requireConfig(fs, path); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err == nil {
		err = errors.Join(cfg.RequireAuth(), cfg.RequirePolicy())
	}
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	log := lf.logger(e.stderr)
	ln, err := e.listenOn(ctx, cfg.Listen)
	if err != nil {
		return fail(log, fmt.Errorf("listen: %w", err))
	}
	authz, closeLog, err := newAuthorizer(ctx, cfg, log, e.stderr)
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	defer closeLog()
	gw, stop, err := newGateway(ctx, cfg, log, ln.Addr(), nil, authz)
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	defer stop()
	gw.Start(ctx)
	return serveGateway(ctx, gw, ln, cfg, log, e)
}

// newGateway builds the gateway for cfg, listening on listen, with
// telemetry, sign-in, the policy of authz, the CLI's logger and version,
// and extra routes. stop flushes the telemetry.
func newGateway(ctx context.Context, cfg *config.Config, log *slog.Logger, listen net.Addr, routes map[string]http.Handler, authz gateway.Authorizer) (gw *gateway.Gateway, stop func(), err error) {
	opts := &gateway.Options{Version: currentBuild().version, Routes: routes, Authorizer: authz}
	log, stop, err = withTelemetry(ctx, opts, cfg.Telemetry, log)
	if err != nil {
		return nil, nil, err
	}
	if err := withSignIn(opts, cfg, listen, log); err != nil {
		stop()
		return nil, nil, err
	}
	if gw, err = gateway.New(cfg, opts); err != nil {
		stop()
		return nil, nil, err
	}
	observeGateway(opts, gw)
	return gw, stop, nil
}

// serveGateway serves a started gateway on ln until ctx ends and returns the
// exit code.
func serveGateway(ctx context.Context, gw *gateway.Gateway, ln net.Listener, cfg *config.Config, log *slog.Logger, e *env) int {
	log.Info("mcpgate listening", "addr", ln.Addr().String(), "mcp_url", cfg.MCPURL(), "version", currentBuild().version)
	if e.listening != nil {
		e.listening(ln.Addr())
	}
	if err := gw.Serve(ctx, ln); err != nil {
		return fail(log, fmt.Errorf("serve: %w", err))
	}
	log.Info("mcpgate stopped")
	return exitOK
}

// fail logs err, which ends the command, and returns exitFail.
func fail(log *slog.Logger, err error) int {
	log.Error("mcpgate failed", "err", err)
	return exitFail
}
