package devidp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// Defaults and limits of the provider.
const (
	// DefaultTokenTTL is the lifetime of an access token when Options.TokenTTL is zero.
	DefaultTokenTTL = time.Hour
	// DevClientID is the "azp" and "client_id" of tokens minted by [Provider.Token]
	// and by the /dev/token handler.
	DevClientID = "mcpgate-dev"

	codeTTL          = 60 * time.Second
	csrfTTL          = 10 * time.Minute
	maxSpentCSRF     = 10000 // spent sign-in form tokens remembered at once
	maxClients       = 1000
	maxCodes         = 10000
	maxRefreshTokens = 10000
	maxBodyBytes     = 64 << 10
	challengeS256    = "S256"
	grantAuthzCode   = "authorization_code"
	grantRefresh     = "refresh_token"
	scopeOpenID      = "openid"
)

// ErrUnknownUser is returned by [Provider.Token] for a name that is not a demo user.
var ErrUnknownUser = errors.New("unknown user")

// User is a demo user who may sign in without a password.
type User struct {
	// Name is the user's stable identifier: the sign-in choice and the "sub" claim.
	Name string
	// Email is the "email" claim.
	Email string
	// Groups is the "groups" claim.
	Groups []string
}

// DemoUsers returns the demo users of `mcpgate dev` (DESIGN §3): alice
// (engineering), bob (hr), carol (admin) and mallory (no groups), each with
// the email NAME@example.com.
func DemoUsers() []User {
	return []User{
		{Name: "alice", Email: "alice@example.com", Groups: []string{"engineering"}},
		{Name: "bob", Email: "bob@example.com", Groups: []string{"hr"}},
		{Name: "carol", Email: "carol@example.com", Groups: []string{"admin"}},
		{Name: "mallory", Email: "mallory@example.com", Groups: []string{}},
	}
}

// Options configures a [Provider].
type Options struct {
	// Issuer is the provider's issuer identifier, an http(s) URL on a loopback
	// host with no trailing slash, e.g. "http://127.0.0.1:8080/dev/idp". The
	// provider is served under the Issuer's path on the gateway's own listener.
	Issuer string
	// Audience is the gateway's resource URL (…/mcp): the "aud" of every access
	// token, and the only accepted RFC 8707 "resource" value.
	Audience string
	// Users are the users offered on the sign-in page. If nil, DemoUsers().
	Users []User
	// TokenTTL is the access token lifetime. If zero, DefaultTokenTTL.
	TokenTTL time.Duration
	// Scopes are the scopes the provider supports and grants (e.g. "mcp"),
	// listed in scopes_supported and put in the "scope" claim. A request
	// that names no scope is granted all of them.
	Scopes []string
	// Clients are pre-registered confidential clients, beside those that
	// register themselves (RFC 7591). If any is given, the provider is also
	// an OpenID provider: it supports the scopes "openid", "email" and
	// "profile", and answers a code granted with "openid" with an ID token
	// as well (see [StaticClient]). If nil, there are none, and no ID tokens.
	Clients []StaticClient
	// RefreshTokenTTL, if positive, makes the provider issue refresh tokens
	// (RFC 6749 §6) valid this long to clients that registered the
	// refresh_token grant type (RFC 7591), and to every static client. Each
	// use rotates the token; a rotated token presented again revokes every
	// token descended from the same sign-in. If zero, there are no refresh
	// tokens.
	RefreshTokenTTL time.Duration
	// DevTokenMinter, if set, mints the tokens of POST /dev/token instead
	// of the provider: in authorization-server mode the gateway issues
	// them, so that they carry the scopes its policy grants.
	DevTokenMinter func(ctx context.Context, u User) (token string, ttl time.Duration, err error)
	// Logger receives the provider's announcements. If nil, slog.Default().
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Provider is the development OpenID Connect provider. Create it with [New];
// it is safe for concurrent use.
type Provider struct {
	issuer     string
	issuerPath string
	audience   string
	users      []User
	byName     map[string]User
	ttl        time.Duration
	refreshTTL time.Duration
	scopes     []string
	// supported are the scopes granted on request: scopes, and the OpenID
	// Connect ones when there are static clients.
	supported []string
	minter    func(ctx context.Context, u User) (string, time.Duration, error)
	logger    *slog.Logger
	now       func() time.Time

	signer    jose.Signer // access tokens, typ at+jwt
	idSigner  jose.Signer // ID tokens, typ JWT
	jwks      []byte
	metadata  []byte
	wellKnown []string
	csrfKey   []byte
	spentCSRF spentSet
	// crossOrigin refuses sign-in form posts made by other sites.
	crossOrigin *http.CrossOriginProtection

	clients  *clientStore
	codes    *codeStore
	refreshs *refreshStore
	handler  http.Handler
}

// New validates opts, generates an in-memory RSA-2048 signing key and returns
// the provider. It logs a warning that an insecure provider is running.
func New(opts Options) (*Provider, error) {
	iss, err := checkOptions(&opts)
	if err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	p := &Provider{
		issuer:      opts.Issuer,
		issuerPath:  iss.Path,
		audience:    opts.Audience,
		users:       slices.Clone(opts.Users),
		byName:      make(map[string]User, len(opts.Users)),
		ttl:         opts.TokenTTL,
		refreshTTL:  opts.RefreshTokenTTL,
		scopes:      append([]string{}, opts.Scopes...),
		minter:      opts.DevTokenMinter,
		logger:      opts.Logger,
		now:         opts.Now,
		csrfKey:     make([]byte, 32),
		crossOrigin: http.NewCrossOriginProtection(),
		clients:     newClientStore(opts.Clients, maxClients),
		codes:       newCodeStore(maxCodes),
		refreshs:    newRefreshStore(maxRefreshTokens),
	}
	p.supported = supportedScopes(opts)
	rand.Read(p.csrfKey)
	for i, u := range p.users {
		if u.Groups == nil { // tokens always carry a "groups" array
			p.users[i].Groups = []string{}
		}
		p.byName[u.Name] = p.users[i]
	}
	if err := p.initKeys(); err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	if err := p.initMetadata(iss); err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	p.handler = loopbackOnly(http.HandlerFunc(p.route))
	p.logger.Warn("devidp: INSECURE development identity provider enabled: loopback only, keys in memory, anyone may sign in as a demo user; never use in production",
		"issuer", p.issuer, "audience", p.audience)
	return p, nil
}

// checkOptions applies defaults and reports every invalid option.
func checkOptions(opts *Options) (*url.URL, error) {
	if opts.Users == nil {
		opts.Users = DemoUsers()
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	iss, issErr := checkIssuer(opts.Issuer)
	errs := []error{issErr, checkAudience(opts.Audience), checkUsers(opts.Users), checkStaticClients(opts.Clients)}
	if opts.TokenTTL < 0 {
		errs = append(errs, errors.New("token ttl: must be positive"))
	}
	if opts.RefreshTokenTTL < 0 {
		errs = append(errs, errors.New("refresh token ttl: must be positive, or zero for no refresh tokens"))
	}
	for i, s := range opts.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			errs = append(errs, fmt.Errorf("scopes[%d]: must be a non-empty scope token", i))
		}
	}
	return iss, errors.Join(errs...)
}

// supportedScopes returns opts.Scopes followed, when there are static
// clients, by the OpenID Connect scopes it lacks.
func supportedScopes(opts Options) []string {
	s := append([]string{}, opts.Scopes...)
	if len(opts.Clients) == 0 {
		return s
	}
	for _, oidc := range []string{scopeOpenID, "email", "profile"} {
		if !slices.Contains(s, oidc) {
			s = append(s, oidc)
		}
	}
	return s
}

func checkIssuer(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || raw == "":
		return nil, fmt.Errorf("issuer %q: must be an absolute http(s) URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("issuer %q: must use http or https", raw)
	case !authrule.IsLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("issuer %q: must be on a loopback host (development only)", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("issuer %q: must have no user info, query or fragment", raw)
	case strings.HasSuffix(u.Path, "/"):
		return nil, fmt.Errorf("issuer %q: must not end with a slash", raw)
	}
	return u, nil
}

func checkAudience(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || raw == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("audience %q: must be the gateway's absolute http(s) resource URL", raw)
	}
	return nil
}

func checkUsers(users []User) error {
	var errs []error
	seen := make(map[string]bool, len(users))
	for i, u := range users {
		if u.Name == "" || seen[u.Name] {
			errs = append(errs, fmt.Errorf("users[%d].name: must be non-empty and unique", i))
		}
		seen[u.Name] = true
	}
	return errors.Join(errs...)
}

// Issuer returns the issuer identifier, exactly as in tokens and metadata.
func (p *Provider) Issuer() string { return p.issuer }

// Handler serves the provider's endpoints. It accepts paths both relative to
// the issuer's path (as left by http.StripPrefix(issuerPath, …)) and
// unstripped, plus the root-level discovery paths of [Provider.WellKnownPaths].
func (p *Provider) Handler() http.Handler { return p.handler }

// WellKnownPaths returns the root-level discovery paths that the gateway's
// mux must route to [Provider.Handler] unchanged, so that MCP clients find
// the provider from the gateway's origin.
//
// The rule: they are only the path-inserted forms (RFC 8414 §3.1), the
// issuer's path appended to the well-known prefix, e.g.
// "/.well-known/oauth-authorization-server/dev/idp" and
// "/.well-known/openid-configuration/dev/idp". The bare root paths
// "/.well-known/oauth-authorization-server" and
// "/.well-known/openid-configuration" are never claimed: they belong to the
// gateway, which serves its own metadata there when it is itself the
// authorization server. An issuer at the root of its origin therefore gets
// none (its Handler, mounted at "/", serves its discovery). OpenID Connect
// relying parties (go-oidc) do not use these paths: they read
// <issuer>/.well-known/openid-configuration, under the issuer's path.
func (p *Provider) WellKnownPaths() []string { return append([]string{}, p.wellKnown...) }

// Users returns the names of the users who may sign in, in order.
func (p *Provider) Users() []string {
	names := make([]string, len(p.users))
	for i, u := range p.users {
		names[i] = u.Name
	}
	return names
}
