package websession

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/internal/authrule"
	"github.com/mcpgate/mcpgate/internal/sealbox"
)

// Paths of the handlers, relative to the gateway's root (BaseURL's path
// is the reverse proxy's business, as for /mcp). The IdP redirects to
// BaseURL + PathCallback: register that URL as the client's redirect URI.
const (
	PathSignIn   = "/signin"
	PathCallback = "/signin/callback"
	PathSignOut  = "/signout"
)

// Defaults and bounds.
const (
	// DefaultTTL is a session's lifetime when Options.TTL is zero: a
	// working day.
	DefaultTTL = 8 * time.Hour
	// MaxTTL bounds Options.TTL: a sealed session cannot be revoked
	// before it expires, except by rotating the keys.
	MaxTTL = 7 * 24 * time.Hour
	// signInTTL bounds the time between /signin and the callback.
	signInTTL = 10 * time.Minute
	// idpTimeout bounds each request to the IdP.
	idpTimeout = 10 * time.Second
	// discoveryRetry is how often a failed discovery is tried again;
	// sign-in is refused meanwhile.
	discoveryRetry = 10 * time.Second
)

// cookieNameRE is what Options.CookieName may be.
var cookieNameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// DefaultScopes are asked of the IdP when Options.Scopes is empty.
var DefaultScopes = []string{"openid", "email", "profile"}

// reservedAuthParams are set by the flow itself.
var reservedAuthParams = []string{"client_id", "redirect_uri", "state", "nonce", "code_challenge",
	"code_challenge_method", "scope", "response_type", "response_mode", "request", "request_uri"}

// Options configure a Manager.
type Options struct {
	// Issuer is the OIDC provider's issuer identifier; its discovery
	// document is Issuer + "/.well-known/openid-configuration". Required;
	// https (http only on loopback).
	Issuer string
	// ClientID is the gateway's client at the IdP; the ID token's aud
	// must contain it. Required.
	ClientID string
	// ClientSecret returns the client's secret; it is called at each code
	// redemption, so a rotated secret file is picked up. If nil, the
	// client is public and PKCE is its only proof.
	ClientSecret func() (string, error)
	// Scopes are asked of the IdP; they must include openid. If empty,
	// DefaultScopes.
	Scopes []string
	// AuthParams are extra authorization request parameters (e.g.
	// prompt=select_account). The flow's own ones cannot be set.
	AuthParams map[string]string
	// BaseURL is the public URL of the gateway (config public_url). The
	// redirect URI is BaseURL + PathCallback. https, or http on loopback.
	// Required.
	BaseURL string
	// Keys seal the cookies: 32 bytes each, the first seals, all open.
	// At least one.
	Keys [][]byte
	// TTL is a session's lifetime from sign-in, at most MaxTTL. If zero,
	// DefaultTTL.
	TTL time.Duration
	// Claims maps the ID token's claims to the employee when Identity is
	// nil: pass the issuer's mapping, so pages see the identity /mcp sees.
	// The zero value is the default mapping (sub, email, name, groups).
	Claims authn.ClaimMapping
	// Identity, if not nil, maps the verified ID token's claims to the
	// employee instead of Claims. Whatever it returns, the session's
	// issuer is Options.Issuer, its audience the ID token's and its
	// expiry the session's end.
	Identity func(ctx context.Context, claims map[string]any) (*authn.Identity, error)
	// Home is the local path sent to after sign-in without next. If
	// empty, "/".
	Home string
	// CookieName names the cookies: <CookieName>-session and
	// <CookieName>-signin (with the __Host- prefix on https). Browsers do
	// not scope cookies by port: two Managers on one host (the main
	// listener's and the console's) need names of their own, or each
	// signs the other out. If empty, "mcpgate".
	CookieName string
	// HTTPClient talks to the IdP. If nil, a client with a 10s timeout.
	HTTPClient *http.Client
	// Logger, if nil, is slog.Default().
	Logger *slog.Logger
	// Now, if nil, is time.Now.
	Now func() time.Time
}

// Manager signs employees in and keeps their sessions. It is safe for
// concurrent use.
type Manager struct {
	opts    Options
	base    *url.URL
	secure  bool
	box     *sealbox.Box
	origin  *http.CrossOriginProtection
	idp     *idp
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	cookies cookieNames
}

// New checks opts and returns a Manager. The IdP is discovered on first
// use (a gateway starts while its IdP is down); ctx bounds the Manager's
// background key fetches.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if err := defaults(&opts); err != nil {
		return nil, fmt.Errorf("websession: %w", err)
	}
	base, _ := url.Parse(opts.BaseURL)
	box, err := sealbox.New(opts.Keys, "web session")
	if err != nil {
		return nil, fmt.Errorf("websession: keys: %w", err)
	}
	m := &Manager{
		opts:   opts,
		base:   base,
		secure: base.Scheme == "https",
		box:    box,
		origin: http.NewCrossOriginProtection(),
		log:    opts.Logger,
		now:    opts.Now,
	}
	if err := m.origin.AddTrustedOrigin(base.Scheme + "://" + base.Host); err != nil {
		return nil, fmt.Errorf("websession: base URL: %w", err)
	}
	m.origin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.errorPage(w, http.StatusForbidden, "Request refused", "This request came from another site.")
	}))
	m.cookies = newCookieNames(m.secure, opts.CookieName)
	m.idp = newIDP(ctx, &m.opts, strings.TrimSuffix(opts.BaseURL, "/")+PathCallback)
	m.mux = http.NewServeMux()
	m.mux.HandleFunc("GET "+PathSignIn, m.serveSignIn)
	m.mux.HandleFunc("GET "+PathCallback, m.serveCallback)
	m.mux.Handle("POST "+PathSignOut, m.origin.Handler(http.HandlerFunc(m.serveSignOut)))
	return m, nil
}

// defaults fills in opts' zero values and reports every missing or
// invalid option at once.
func defaults(o *Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: idpTimeout}
	}
	if len(o.Scopes) == 0 {
		o.Scopes = DefaultScopes
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Home == "" {
		o.Home = "/"
	}
	if o.CookieName == "" {
		o.CookieName = "mcpgate"
	}
	if o.Identity == nil {
		o.Identity = claimIdentity(o.Claims)
	}
	var errs []error
	if err := checkURL(o.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	}
	if err := checkURL(o.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("base URL: %w", err))
	}
	if o.ClientID == "" {
		errs = append(errs, errors.New("client id: required"))
	}
	if len(o.Keys) == 0 {
		errs = append(errs, errors.New("keys: at least one cookie sealing key is required"))
	}
	if !slices.Contains(o.Scopes, "openid") {
		errs = append(errs, errors.New("scopes: must include openid"))
	}
	if o.TTL < 0 || o.TTL > MaxTTL {
		errs = append(errs, fmt.Errorf("ttl: must be between 1s and %s", MaxTTL))
	}
	if !cookieNameRE.MatchString(o.CookieName) {
		errs = append(errs, fmt.Errorf("cookie name %q: use 1 to 32 characters from a-z, 0-9 and '-'", o.CookieName))
	}
	if _, ok := localPath(o.Home); !ok {
		errs = append(errs, fmt.Errorf("home %q: must be a path on the gateway", o.Home))
	}
	for k := range o.AuthParams {
		if slices.Contains(reservedAuthParams, strings.ToLower(k)) {
			errs = append(errs, fmt.Errorf("auth params: %s is set by the flow itself", k))
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute https URL, or http on loopback, without
// query or fragment.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("required")
	case err != nil || !u.IsAbs() || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q: want an absolute URL without query or fragment", raw)
	case u.Scheme != "https" && !(u.Scheme == "http" && authrule.IsLoopbackHost(u.Hostname())):
		return fmt.Errorf("%q: must be https (http only on loopback)", raw)
	}
	return nil
}

// Paths are the paths Handler serves, to mount on the gateway's mux.
func (m *Manager) Paths() []string { return []string{PathSignIn, PathCallback, PathSignOut} }

// Handler serves GET PathSignIn, GET PathCallback and POST PathSignOut.
func (m *Manager) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		m.mux.ServeHTTP(w, r)
	})
}

// local returns the URL to redirect a browser to for a local path: under
// BaseURL's path, which a reverse proxy strips.
func (m *Manager) local(path string) string {
	return strings.TrimSuffix(m.base.Path, "/") + path
}

// errOverage is Entra ID's group overage: the token names a Graph query
// instead of the groups.
var errOverage = errors.New("the ID token has too many groups to list them (Entra ID group overage): " +
	"assign groups to the application or use app roles (claims.groups: roles)")

// claimIdentity maps claims with m, refusing a token whose groups were left
// out for their number: the employee would otherwise be signed in without
// the groups policy decides on.
func claimIdentity(m authn.ClaimMapping) func(context.Context, map[string]any) (*authn.Identity, error) {
	return func(_ context.Context, claims map[string]any) (*authn.Identity, error) {
		if names, ok := claims["_claim_names"].(map[string]any); ok {
			if _, over := names["groups"]; over {
				return nil, errOverage
			}
		}
		return authn.IdentityFromClaims(m, claims)
	}
}
