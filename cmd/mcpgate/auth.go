package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/authserver"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/gateway"
)

// mcpPath is where the gateway serves MCP.
const mcpPath = "/mcp"

// withSignIn adds sign-in to the gateway options: Origin and Host checks and
// bearer-token verification wrap /mcp, and the protected-resource metadata
// (RFC 9728) is served at its well-known paths. listen is the bound
// address; on a loopback address the Host header is checked too. secrets
// are the issuers' provisioned shared secrets.
func withSignIn(opts *gateway.Options, cfg *config.Config, secrets [][]byte, listen net.Addr, log *slog.Logger, as *authserver.Server) error {
	vc, err := verifierConfig(cfg, secrets, log)
	if err != nil {
		return err
	}
	if as != nil {
		// The gateway's own tokens, verified in-process on the same path.
		vc.Issuers = append(vc.Issuers, as.IssuerConfig())
	}
	v, err := authn.NewVerifier(vc)
	if err != nil {
		return fmt.Errorf("sign-in: %w", err)
	}
	metadataURL := strings.TrimSuffix(cfg.MCPURL(), mcpPath) + authn.MetadataPaths(mcpPath)[0]
	mw := authn.MiddlewareOptions{ResourceMetadataURL: metadataURL, Scopes: cfg.Auth.ChallengeScopes, Logger: log,
		TracerProvider: opts.TracerProvider,
		OnVerify: func(ctx context.Context, outcome authn.VerifyOutcome, cached bool) {
			opts.Metrics.RecordAuthnVerification(ctx, string(outcome), cached)
		}}
	opts.HTTPMiddleware = append(opts.HTTPMiddleware,
		authn.OriginMiddleware(cfg.Auth.AllowedOrigins, isLoopbackAddr(listen), log),
		authn.Middleware(v, mw),
	)
	opts.ScopeChallenge = func(w http.ResponseWriter, scopes []string, desc string) {
		authn.WriteInsufficientScope(w, mw, scopes, desc)
	}
	issuers := make([]string, len(cfg.Auth.Issuers))
	for i, is := range cfg.Auth.Issuers {
		issuers[i] = is.Issuer
	}
	scopes := cfg.Auth.ScopesSupported
	if opts.Routes == nil {
		opts.Routes = map[string]http.Handler{}
	}
	if as != nil {
		// Clients see only the gateway as their authorization server; other
		// issuers (workloads) stay accepted without being advertised.
		issuers = []string{as.Issuer()}
		if len(scopes) == 0 {
			for _, s := range cfg.Scopes {
				scopes = append(scopes, s.Name)
			}
		}
		for p, h := range as.Routes() {
			opts.Routes[p] = h
		}
	}
	meta := authn.MetadataHandler(cfg.MCPURL(), issuers, scopes)
	for _, p := range authn.MetadataPaths(mcpPath) {
		opts.Routes[p] = meta
	}
	return nil
}

// verifierConfig maps the auth section of the configuration and the
// shared secrets provisioned for it, by issuer index, to the verifier's
// settings. A shared secret missing from secrets is an error (an HMAC
// issuer must never fall back to discovery and the default algorithms).
func verifierConfig(cfg *config.Config, secrets [][]byte, log *slog.Logger) (authn.Config, error) {
	c := authn.Config{
		Resource:  cfg.MCPURL(),
		Leeway:    time.Duration(cfg.Auth.Leeway),
		CacheSize: cfg.Auth.TokenCacheSize,
		Logger:    log,
	}
	for i, is := range cfg.Auth.Issuers {
		ic := authn.IssuerConfig{
			Issuer:     is.Issuer,
			Audiences:  is.Audiences,
			Algorithms: is.Algorithms,
			Claims:     claimMapping(is.Claims),
		}
		if is.SharedSecret != nil {
			if i >= len(secrets) || len(secrets[i]) == 0 {
				return authn.Config{}, fmt.Errorf("auth.issuers[%d].shared_secret: not provisioned", i)
			}
			ic.SharedSecret = secrets[i]
		}
		c.Issuers = append(c.Issuers, ic)
	}
	return c, nil
}

func isLoopbackAddr(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
