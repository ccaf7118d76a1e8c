package authn

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/mcpgate/mcpgate/internal/authrule"
)

// Defaults and limits of Config; the leeway and cache defaults are
// authrule's, shared with the configuration's validation.
const (
	// DefaultHTTPTimeout bounds each discovery and JWKS fetch.
	DefaultHTTPTimeout = 10 * time.Second
	// RefreshInterval is the least time between two fetches of one issuer's
	// key set, and between two discovery attempts of one issuer.
	RefreshInterval = 10 * time.Second
	// MaxCacheTTL bounds how long a verified token is trusted without being
	// verified again, whatever its exp.
	MaxCacheTTL = 5 * time.Minute
)

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// Issuer is the exact issuer identifier ("iss"). Its OIDC discovery
	// document is fetched from Issuer + "/.well-known/openid-configuration"
	// on first use. It must be https, or http on a loopback host (tests,
	// development).
	Issuer string
	// Audiences are the accepted "aud" values. If empty, Config.Resource.
	Audiences []string
	// Algorithms are the accepted signing algorithms. If empty, RS256, ES256,
	// PS256 and EdDSA, or HS256 when SharedSecret is set. "none" is always
	// refused; HS256/384/512 only with SharedSecret.
	Algorithms []string
	// SharedSecret makes this an HMAC issuer (e.g. a workload issuer): its
	// tokens are verified with this secret only, and no discovery happens.
	// If empty, HS* tokens are refused.
	SharedSecret []byte
	// Claims says where this issuer puts the Identity's claims.
	Claims ClaimMapping
	// KeySet verifies this issuer's signatures in-process, with no
	// discovery: the gateway's own authorization server. If nil, the key
	// set is discovered from the issuer (or SharedSecret is used).
	KeySet oidc.KeySet
	// TokenType, if set, is the JWS "typ" every token of this issuer must
	// carry (compared case-insensitively, with or without the
	// "application/" prefix), e.g. "at+jwt" (RFC 9068 §4), so that no other
	// kind of JWT the issuer signs passes as an access token.
	TokenType string
}

// Config configures a Verifier.
type Config struct {
	// Resource is the canonical URL of this gateway's /mcp endpoint, the
	// default accepted audience.
	Resource string
	// Issuers are the trusted issuers, e.g. the employees' IdP and a
	// workload issuer. At least one.
	Issuers []IssuerConfig
	// Leeway is the clock skew tolerated on exp, nbf and iat. If zero, 30s;
	// at most 5m.
	Leeway time.Duration
	// CacheSize is the number of verified tokens cached. If zero, 10000.
	CacheSize int
	// HTTPClient fetches discovery documents and key sets. If nil, a client
	// with a 10s timeout.
	HTTPClient *http.Client
	// Now is the clock, for tests. If nil, time.Now.
	Now func() time.Time
	// Logger receives IdP failures and recoveries. If nil, slog.Default().
	Logger *slog.Logger
}

// withDefaults returns cfg with its zero values replaced by the defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Leeway == 0 {
		cfg.Leeway = authrule.DefaultLeeway
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = authrule.DefaultTokenCacheSize
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// validate collects every problem of cfg, each prefixed with its key path.
func (cfg Config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Resource != "" {
		if err := checkAbsoluteURL(cfg.Resource); err != nil {
			add("resource: %w", err)
		}
	}
	if len(cfg.Issuers) == 0 {
		add("issuers: at least one issuer is required")
	}
	if cfg.Leeway < 0 || cfg.Leeway > authrule.MaxLeeway {
		add("leeway: %s is out of range: it must be between 0 and %s", cfg.Leeway, authrule.MaxLeeway)
	}
	if cfg.CacheSize < 0 {
		add("cache_size: %d is negative", cfg.CacheSize)
	}
	seen := map[string]int{}
	for i, ic := range cfg.Issuers {
		if j, dup := seen[ic.Issuer]; dup && ic.Issuer != "" {
			add("issuers[%d].issuer: %q is also issuers[%d]: each issuer once", i, ic.Issuer, j)
		}
		seen[ic.Issuer] = i
		for _, err := range ic.validate(cfg.Resource) {
			add("issuers[%d].%w", i, err)
		}
	}
	return errors.Join(errs...)
}

func (ic IssuerConfig) validate(resource string) []error {
	var errs []error
	if err := checkIssuerURL(ic.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	}
	if len(ic.Audiences) == 0 && resource == "" {
		errs = append(errs, errors.New("audiences: required when resource is empty"))
	}
	for i, a := range ic.Audiences {
		if a == "" {
			errs = append(errs, fmt.Errorf("audiences[%d]: empty", i))
		}
	}
	errs = append(errs, ic.validateAlgorithms()...)
	_, claimErrs := compileClaims(ic.Claims)
	return append(errs, claimErrs...)
}

func (ic IssuerConfig) validateAlgorithms() []error {
	var errs []error
	for i, alg := range ic.Algorithms {
		minLen := authrule.HMACKeySize(alg)
		switch err := authrule.CheckAlgorithm(alg); {
		case err != nil:
			errs = append(errs, fmt.Errorf("algorithms[%d]: %w", i, err))
		case minLen > 0 && len(ic.SharedSecret) == 0:
			errs = append(errs, fmt.Errorf("algorithms[%d]: %s requires shared_secret", i, alg))
		case minLen > 0 && len(ic.SharedSecret) < minLen:
			errs = append(errs, fmt.Errorf("shared_secret: %d bytes is too short for %s: at least %d", len(ic.SharedSecret), alg, minLen))
		case minLen == 0 && len(ic.SharedSecret) > 0:
			errs = append(errs, fmt.Errorf("algorithms[%d]: %s cannot be used with shared_secret: an HMAC issuer verifies with its secret only", i, alg))
		}
	}
	if least := authrule.HMACKeySize("HS256"); len(ic.Algorithms) == 0 && len(ic.SharedSecret) > 0 && len(ic.SharedSecret) < least {
		errs = append(errs, fmt.Errorf("shared_secret: %d bytes is too short for HS256: at least %d", len(ic.SharedSecret), least))
	}
	return errs
}

// algorithms returns the accepted algorithms, defaults applied.
func (ic IssuerConfig) algorithms() []string {
	switch {
	case len(ic.Algorithms) > 0:
		return slices.Clone(ic.Algorithms)
	case len(ic.SharedSecret) > 0:
		return []string{"HS256"}
	}
	return authrule.DefaultAlgorithms()
}

func checkAbsoluteURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q must be an absolute http(s) URL", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("%q must not have a fragment", s)
	}
	return nil
}

// checkIssuerURL requires https, except on loopback hosts (tests, dev).
func checkIssuerURL(s string) error {
	if err := checkAbsoluteURL(s); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if u.RawQuery != "" {
		return fmt.Errorf("%q must not have a query", s)
	}
	if u.Scheme == "http" && !authrule.IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%q must be https (http only on a loopback host)", s)
	}
	return nil
}
