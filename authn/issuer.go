package authn

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// issuer is the runtime state of one IssuerConfig: prepared claim paths and
// audiences, and the go-oidc verifier, built lazily by discovery.
type issuer struct {
	id        string
	audiences []string
	claims    claimPaths
	oidcCfg   *oidc.Config
	client    *http.Client // discovery
	keys      *keyFetcher  // nil for an HMAC issuer or a local key set
	tokenType string       // required JWS typ, if any
	logger    *slog.Logger
	now       func() time.Time

	ready atomic.Pointer[oidc.IDTokenVerifier]

	mu      sync.Mutex // serialises discovery
	lastTry time.Time
	lastErr error
}

func newIssuer(ic IssuerConfig, cfg Config) *issuer {
	claims, _ := compileClaims(ic.Claims) // validated by NewVerifier
	is := &issuer{
		id:        ic.Issuer,
		audiences: ic.Audiences,
		claims:    claims,
		logger:    cfg.Logger,
		now:       cfg.Now,
		client:    withTransport(cfg.HTTPClient, limitedTransport{baseTransport(cfg.HTTPClient)}),
	}
	if len(is.audiences) == 0 {
		is.audiences = []string{cfg.Resource}
	}
	is.oidcCfg = &oidc.Config{
		SkipClientIDCheck:    true, // audience checked against all accepted values in verify.go
		SkipExpiryCheck:      true, // exp, nbf and iat checked with Leeway in verify.go
		SupportedSigningAlgs: ic.algorithms(),
		Now:                  cfg.Now,
	}
	is.tokenType = ic.TokenType
	if ic.KeySet != nil {
		is.ready.Store(oidc.NewVerifier(ic.Issuer, ic.KeySet, is.oidcCfg))
		return is
	}
	if len(ic.SharedSecret) > 0 {
		ks := &hmacKeySet{secret: ic.SharedSecret}
		for _, a := range is.oidcCfg.SupportedSigningAlgs {
			ks.algs = append(ks.algs, jose.SignatureAlgorithm(a))
		}
		is.ready.Store(oidc.NewVerifier(ic.Issuer, ks, is.oidcCfg))
		return is
	}
	is.keys = &keyFetcher{
		next:     baseTransport(cfg.HTTPClient),
		issuer:   ic.Issuer,
		interval: RefreshInterval,
		now:      cfg.Now,
		logger:   cfg.Logger,
	}
	return is
}

// verifier returns the go-oidc verifier, running discovery first if it has
// not succeeded yet. A failed discovery is retried at most once per
// RefreshInterval; until it succeeds every token of this issuer is refused.
func (is *issuer) verifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if v := is.ready.Load(); v != nil {
		return v, nil
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if v := is.ready.Load(); v != nil {
		return v, nil
	}
	now := is.now()
	if !is.lastTry.IsZero() && now.Sub(is.lastTry) < RefreshInterval && now.Sub(is.lastTry) > -RefreshInterval {
		return nil, unavailable(reasonDiscovery, is.lastErr)
	}
	is.lastTry = now
	v, err := is.discover(ctx)
	if err != nil {
		is.lastErr = err
		is.logger.Error("authn: OIDC discovery failed: this issuer's tokens are refused until it succeeds",
			"issuer", is.id, "error", errorText(err), "retry_after", RefreshInterval)
		return nil, unavailable(reasonDiscovery, err)
	}
	if is.lastErr != nil {
		is.logger.Info("authn: OIDC discovery recovered", "issuer", is.id)
	}
	is.lastErr = nil
	is.ready.Store(v)
	return v, nil
}

// discover fetches the discovery document (go-oidc checks that its issuer
// is exactly ours) and builds a verifier on the advertised jwks_uri.
// The request's cancellation is ignored: a client that goes away must not
// turn into a failed attempt that locks everyone out for RefreshInterval.
func (is *issuer) discover(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultHTTPTimeout)
	defer cancel()
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, is.client), is.id)
	if err != nil {
		return nil, err
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, err
	}
	if err := is.checkJWKSURI(meta.JWKSURI); err != nil {
		return nil, err
	}
	keysCtx := oidc.ClientContext(context.Background(), withTransport(is.client, is.keys))
	keySet := oidc.NewRemoteKeySet(keysCtx, meta.JWKSURI)
	return oidc.NewVerifier(is.id, keySet, is.oidcCfg), nil
}

// checkJWKSURI refuses a key set URL that is not https, unless the issuer
// itself is a loopback http issuer (tests, development).
func (is *issuer) checkJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("discovery: jwks_uri %q is not an absolute URL", raw)
	}
	iu, _ := url.Parse(is.id)
	if u.Scheme == "https" || u.Scheme == "http" && iu.Scheme == "http" && authrule.IsLoopbackHost(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("discovery: jwks_uri %q must be https", raw)
}

// keysUnavailable reports whether the last key set fetch failed.
func (is *issuer) keysUnavailable() bool {
	return is.keys != nil && is.keys.unavailable()
}
