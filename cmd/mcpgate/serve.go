package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/mcpgate/mcpgate/authn/authserver"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/policy"
)

const serveAbout = `Run the gateway: load and validate the configuration, read the files it
names (session keys, OPA configuration, shared secrets, the store's
PostgreSQL DSN), open the store, connect to its upstream servers in the
background and serve /mcp (to callers with an access token from one of
auth.issuers), the protected-resource metadata, /healthz and /readyz on the
listen address until SIGINT or SIGTERM, then drain within
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
	cfg, prov, err := loadServeConfig(*path)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	log := lf.logger(e.stderr)
	gc, err := tuneGC(e.getenv, "/sys/fs/cgroup", "/proc/self/cgroup")
	logGC(log, gc, err)
	ln, err := e.listenOn(ctx, cfg.Listen)
	if err != nil {
		return fail(log, fmt.Errorf("listen: %w", err))
	}
	authz, closeLog, err := newAuthorizer(ctx, cfg, prov.OPAConfig, log, e.stderr)
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	defer closeLog()
	st, err := openStore(ctx, cfg, prov)
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	if st != nil {
		defer st.Close()
	}
	gw, _, stop, err := newGateway(ctx, cfg, prov, log, ln.Addr(), &gateway.Options{Authorizer: authz, Store: st}, authz)
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	defer stop()
	gw.Start(ctx)
	return serveGateway(ctx, gw, ln, cfg, log, e)
}

// loadServeConfig loads and validates the configuration at path, checks
// that it names an issuer, a policy and, for sealed sessions, a store, and
// provisions it: the files it
// names are read here, once.
func loadServeConfig(path string) (*config.Config, *config.Provisioned, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if err := errors.Join(cfg.RequireAuth(), cfg.RequirePolicy(), cfg.RequireStore()); err != nil {
		return nil, nil, err
	}
	prov, err := cfg.Provision()
	if err != nil {
		return nil, nil, err
	}
	return cfg, prov, nil
}

// newGateway builds the gateway for cfg and what was provisioned for it,
// listening on listen, with telemetry, sign-in, the CLI's logger and
// version, and the authorizer and routes of opts. stop flushes the
// telemetry.
//
// In authorization-server mode, engine decides its grants and
// registrations and opts.Store keeps its state.
func newGateway(ctx context.Context, cfg *config.Config, prov *config.Provisioned, log *slog.Logger, listen net.Addr, opts *gateway.Options, engine *policy.Engine) (gw *gateway.Gateway, as *authserver.Server, stop func(), err error) {
	opts.Version = currentBuild().version
	opts.SessionKeys = prov.SessionKeys
	opts.Catalogue = scopeCatalogue(cfg.Scopes)
	log, stop, err = withTelemetry(ctx, opts, cfg.Telemetry, log)
	if err != nil {
		return nil, nil, nil, err
	}
	as, err = newAuthServer(cfg, prov, opts.Store, engine, log, opts.TracerProvider)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	if err := withSignIn(opts, cfg, prov.SharedSecrets, listen, log, as); err != nil {
		stop()
		return nil, nil, nil, err
	}
	if err := withIdentityAssertions(opts, prov); err != nil {
		stop()
		return nil, nil, nil, err
	}
	pages, err := withEmployeePages(ctx, opts, cfg, prov, as, log)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	if opts.Lock, err = loadLock(cfg); err != nil {
		stop()
		return nil, nil, nil, err
	}
	mount := mountConsole(opts, cfg)
	if gw, err = gateway.New(cfg, opts); err != nil {
		stop()
		return nil, nil, nil, err
	}
	if err := watchLock(ctx, cfg, gw, opts.Lock); err != nil {
		stop()
		return nil, nil, nil, err
	}
	pages.gw = gw
	stopConsole, err := startConsole(ctx, cfg, pages, as, engine, gw, mount, log)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	observeGateway(opts, gw)
	stopTelemetry := stop
	return gw, as, func() { stopConsole(); stopTelemetry() }, nil
}

// withIdentityAssertions gives the gateway the keys of identity_assertions
// and publishes them at gateway.AssertionJWKSPath, for upstreams of auth
// kind identity_assertion to verify what the gateway sends them.
func withIdentityAssertions(opts *gateway.Options, prov *config.Provisioned) error {
	if len(prov.IdentityAssertionKeys) == 0 {
		return nil
	}
	keys, err := gateway.NewAssertionKeys(prov.IdentityAssertionKeys)
	if err != nil {
		return err
	}
	opts.AssertionKeys = keys
	if opts.Routes == nil {
		opts.Routes = map[string]http.Handler{}
	}
	opts.Routes[gateway.AssertionJWKSPath] = keys
	return nil
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
