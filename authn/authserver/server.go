package authserver

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/internal/authrule"
	"github.com/mcpgate/mcpgate/store"
)

// Paths of the authorization server's endpoints, under the issuer URL.
const (
	PathAuthorize = "/oauth/authorize"
	PathCallback  = "/oauth/callback"
	PathConsent   = "/oauth/consent"
	PathToken     = "/oauth/token"
	PathRevoke    = "/oauth/revoke"
	PathRegister  = "/oauth/register"
	PathJWKS      = "/oauth/jwks"
	PathGrants    = "/oauth/grants"
)

// Grant reasons, as the Granter sees them.
const (
	ReasonAuthorize = "authorize" // the first grant to a client, or one within what was granted before
	ReasonStepUp    = "step_up"   // the client asks for more than it was granted before
	ReasonRefresh   = "refresh"   // a refresh token is used
)

// Registration methods, as the Granter sees them.
const (
	MethodDynamic          = "dynamic"
	MethodMetadataDocument = "metadata_document"
)

// GrantRequest asks which of the requested scopes a client gets for an
// employee.
type GrantRequest struct {
	Subject    Subject
	ClientID   string
	ClientName string
	// Requested are the scopes the client asked for; Current those granted
	// to it before (empty at a first authorization).
	Requested, Current []string
	Reason             string
	// Endpoint is "oauth/authorize" or "oauth/token".
	Endpoint   string
	RemoteAddr string
}

// RegistrationRequest asks whether a client may register (or, for a
// metadata document, be used).
type RegistrationRequest struct {
	Method     string
	Metadata   ClientMetadata
	RemoteAddr string
}

// Granter decides scope grants and client registrations: the policy
// engine, in mcpgate. An error is a refusal (fail closed).
type Granter interface {
	// Grant returns the scopes granted and the reasons of the decision.
	// The server never grants more than was requested or than the scope
	// catalogue has, whatever Grant returns.
	Grant(ctx context.Context, req *GrantRequest) (scopes, reasons []string, err error)
	// Register reports whether the client may register, and why.
	Register(ctx context.Context, req *RegistrationRequest) (allowed bool, reasons []string, err error)
}

// Scope is one scope of the catalogue: what clients may ask for.
type Scope struct {
	Name        string
	Description string
}

// StaticClient is a client registered in the configuration.
type StaticClient struct {
	ID           string
	Name         string
	RedirectURIs []string
	// Secret makes the client confidential; empty for a public client.
	Secret string
}

// IdP is the corporate OpenID Connect provider and the gateway's client
// there.
type IdP struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes asked of the IdP; they include openid.
	Scopes []string
	// AuthParams are extra authorization request parameters.
	AuthParams map[string]string
	// Claims maps the ID token to the employee.
	Claims authn.ClaimMapping
	// HTTPClient talks to the IdP. If nil, a client with a 10s timeout.
	HTTPClient *http.Client
}

// Options configure a [Server].
type Options struct {
	// Issuer is the gateway's issuer identifier: its public URL, no
	// trailing slash. Endpoints are Issuer + Path*.
	Issuer string
	// Resource is the gateway's MCP URL: the aud of every access token
	// and the only accepted RFC 8707 resource.
	Resource string
	// Store keeps every record. Required.
	Store store.Store
	// Granter decides grants and registrations. Required.
	Granter Granter
	// IdP is the corporate provider. Required.
	IdP IdP
	// Keys sign access tokens: the first signs, all are published.
	// At least one.
	Keys []crypto.Signer
	// Scopes is the scope catalogue.
	Scopes []Scope
	// Clients are pre-registered clients.
	Clients []StaticClient
	// DynamicRegistration enables /oauth/register.
	DynamicRegistration bool
	// MetadataDocuments enables Client ID Metadata Document clients.
	MetadataDocuments bool
	// MetadataDocumentsAllowPrivate lets metadata documents be fetched
	// from private and loopback addresses (tests only).
	MetadataDocumentsAllowPrivate bool
	// MetadataDocumentsRootCAs, if set, are the roots trusted for
	// metadata documents (tests).
	MetadataDocumentsRootCAs *x509.CertPool
	// AccessTokenTTL, RefreshTokenTTL, RefreshMaxLifetime and ConsentTTL
	// are the lifetimes of config.AuthorizationServer.
	AccessTokenTTL, RefreshTokenTTL, RefreshMaxLifetime, ConsentTTL time.Duration
	// Logger, if nil, slog.Default().
	Logger *slog.Logger
	// TracerProvider, if nil, no spans.
	TracerProvider trace.TracerProvider
	// Now, if nil, time.Now.
	Now func() time.Time
}

// Server is the authorization server. Create it with [New].
type Server struct {
	opts    Options
	issuer  *url.URL
	secure  bool // https issuer: cookies are Secure
	catalog map[string]Scope
	static  map[string]*StaticClient
	keys    *signingKeys
	idp     *federation
	cimd    *cimdFetcher
	rec     records
	log     *slog.Logger
	tracer  trace.Tracer
	now     func() time.Time
	origin  *http.CrossOriginProtection
	// registrations and signIns bound, per client address, the requests
	// that write to the store without a secret or a session.
	registrations, signIns *addressLimiter
	metadata               []byte
}

// New checks opts and returns the server. The IdP's discovery document
// is fetched on first use, so a gateway starts while its IdP is down.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	iss, err := checkOptions(&opts)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	keys, err := newSigningKeys(opts.Keys)
	if err != nil {
		return nil, fmt.Errorf("authserver: signing keys: %w", err)
	}
	s := &Server{
		opts:    opts,
		issuer:  iss,
		secure:  iss.Scheme == "https",
		catalog: make(map[string]Scope, len(opts.Scopes)),
		static:  make(map[string]*StaticClient, len(opts.Clients)),
		keys:    keys,
		rec:     records{opts.Store},
		log:     opts.Logger,
		tracer:  opts.TracerProvider.Tracer("github.com/mcpgate/mcpgate/authn/authserver"),
		now:     opts.Now,
		origin:  http.NewCrossOriginProtection(),

		registrations: newAddressLimiter(registerRate, registerBurst),
		signIns:       newAddressLimiter(signInRate, signInBurst),
	}
	for _, sc := range opts.Scopes {
		s.catalog[sc.Name] = sc
	}
	for i := range opts.Clients {
		c := &opts.Clients[i]
		md := ClientMetadata{ClientID: c.ID, ClientName: c.Name, RedirectURIs: c.RedirectURIs}
		if err := md.normalize(); err != nil {
			return nil, fmt.Errorf("authserver: client %q: %w", c.ID, err)
		}
		s.static[c.ID] = c
	}
	s.idp = newFederation(opts.IdP, opts.Issuer+PathCallback, opts.Logger)
	if opts.MetadataDocuments {
		s.cimd = newCIMDFetcher(cimdOptions{AllowPrivate: opts.MetadataDocumentsAllowPrivate,
			RootCAs: opts.MetadataDocumentsRootCAs, Now: opts.Now})
	}
	if s.metadata, err = s.buildMetadata(); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	return s, nil
}

func checkOptions(opts *Options) (*url.URL, error) {
	var errs []error
	iss, err := url.Parse(opts.Issuer)
	if err != nil || !iss.IsAbs() || iss.Host == "" || iss.RawQuery != "" || iss.Fragment != "" || strings.HasSuffix(opts.Issuer, "/") {
		errs = append(errs, fmt.Errorf("issuer %q: want an absolute URL without query, fragment or trailing slash", opts.Issuer))
	} else if iss.Scheme != "https" && !(iss.Scheme == "http" && authrule.IsLoopbackHost(iss.Hostname())) {
		errs = append(errs, fmt.Errorf("issuer %q: must be https (http only on loopback)", opts.Issuer))
	}
	if opts.Resource == "" {
		errs = append(errs, errors.New("resource: the MCP URL is required"))
	}
	if opts.Store == nil {
		errs = append(errs, errors.New("store: required (registrations, consents, codes and refresh tokens live there)"))
	}
	if opts.Granter == nil {
		errs = append(errs, errors.New("granter: required (every scope grant is a policy decision)"))
	}
	if opts.IdP.Issuer == "" || opts.IdP.ClientID == "" {
		errs = append(errs, errors.New("idp: issuer and client id are required"))
	}
	if !slices.Contains(opts.IdP.Scopes, "openid") {
		errs = append(errs, errors.New("idp: scopes must include openid"))
	}
	if len(opts.Keys) == 0 {
		errs = append(errs, errors.New("keys: at least one signing key is required"))
	}
	if opts.AccessTokenTTL <= 0 || opts.RefreshTokenTTL <= 0 || opts.RefreshMaxLifetime < opts.RefreshTokenTTL || opts.ConsentTTL <= 0 {
		errs = append(errs, errors.New("lifetimes: access, refresh and consent lifetimes must be positive, and the refresh maximum at least the refresh lifetime"))
	}
	return iss, errors.Join(errs...)
}

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.opts.Issuer }

// IssuerConfig returns how the gateway's verifier checks this server's
// access tokens: with its keys in-process and typ at+jwt required.
func (s *Server) IssuerConfig() authn.IssuerConfig {
	return authn.IssuerConfig{Issuer: s.opts.Issuer, KeySet: s.keys.keySet(), TokenType: accessTokenType,
		Algorithms: s.keys.algorithms()}
}

// Routes returns the server's handlers by ServeMux pattern, for the
// gateway's listener (the root of the issuer's host): the endpoints are
// under the issuer's path, as the metadata advertises them.
func (s *Server) Routes() map[string]http.Handler {
	meta := http.HandlerFunc(s.serveMetadata)
	p := s.issuer.Path
	routes := map[string]http.Handler{
		"GET " + p + PathAuthorize: http.HandlerFunc(s.serveAuthorize),
		"GET " + p + PathCallback:  http.HandlerFunc(s.serveCallback),
		"POST " + p + PathConsent:  s.origin.Handler(http.HandlerFunc(s.serveConsent)),
		p + PathToken:              crossOriginAPI(http.HandlerFunc(s.serveToken)),
		p + PathRevoke:             crossOriginAPI(http.HandlerFunc(s.serveRevoke)),
		"GET " + p + PathJWKS:      http.HandlerFunc(s.serveJWKS),
		"GET " + p + PathGrants:    http.HandlerFunc(s.serveGrants),
		"POST " + p + PathGrants:   s.origin.Handler(http.HandlerFunc(s.serveGrantsRevoke)),
	}
	if s.opts.DynamicRegistration {
		// No CORS: a web page must not register clients from employees'
		// browsers (address-based register rules would see their
		// addresses); browser-based clients use metadata documents.
		routes[p+PathRegister] = http.HandlerFunc(s.serveRegister)
	}
	for _, p := range s.metadataPaths() {
		routes["GET "+p] = meta
	}
	return routes
}

// metadataPaths are where the RFC 8414 and OIDC discovery documents are
// served: at the root, and with the issuer's path inserted (RFC 8414 §3)
// or appended (OIDC Discovery §4) when the issuer has one.
func (s *Server) metadataPaths() []string {
	p := strings.TrimSuffix(s.issuer.EscapedPath(), "/")
	paths := []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}
	if p != "" {
		paths = append(paths, "/.well-known/oauth-authorization-server"+p, "/.well-known/openid-configuration"+p,
			p+"/.well-known/openid-configuration")
	}
	return paths
}

func (s *Server) buildMetadata() ([]byte, error) {
	scopes := make([]string, 0, len(s.opts.Scopes))
	for _, sc := range s.opts.Scopes {
		scopes = append(scopes, sc.Name)
	}
	m := oauthex.AuthServerMeta{
		Issuer:                                     s.opts.Issuer,
		AuthorizationEndpoint:                      s.opts.Issuer + PathAuthorize,
		TokenEndpoint:                              s.opts.Issuer + PathToken,
		JWKSURI:                                    s.opts.Issuer + PathJWKS,
		RevocationEndpoint:                         s.opts.Issuer + PathRevoke,
		ScopesSupported:                            scopes,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token"},
		TokenEndpointAuthMethodsSupported:          []string{"none", "client_secret_basic", "client_secret_post"},
		RevocationEndpointAuthMethodsSupported:     []string{"none", "client_secret_basic", "client_secret_post"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		ClientIDMetadataDocumentSupported:          s.opts.MetadataDocuments,
		AuthorizationResponseIssParameterSupported: true,
	}
	if s.opts.DynamicRegistration {
		m.RegistrationEndpoint = s.opts.Issuer + PathRegister
	}
	return json.Marshal(m)
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*") // public, credential-free (browser-based clients discover it)
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeRawJSON(w, http.StatusOK, s.metadata)
}

// remoteAddr is the client's address: the one the gateway's edge derived
// (trusted proxies applied), or the connection's peer.
func remoteAddr(r *http.Request) string {
	if a := r.Header.Get(authrule.ClientAddressHeader); a != "" {
		return a
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// crossOriginAPI lets browser-based clients (a web MCP client, the
// Inspector's UI) call the token and revocation endpoints:
// they use no cookie and no ambient credential — a client authenticates
// with what it sends — so any origin may call them, and a preflight is
// answered here.
func crossOriginAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
