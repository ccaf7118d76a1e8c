package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// Kinds of upstream credentials (servers[].auth.kind).
const (
	// AuthHeaders sends fixed headers (an API key, a static bearer token).
	AuthHeaders = "headers"
	// AuthClientCredentials sends a bearer token the gateway obtains for
	// itself with the OAuth 2.0 client credentials grant (RFC 6749 §4.4).
	AuthClientCredentials = "client_credentials"
	// AuthIdentityAssertion sends a short-lived JWT the gateway signs,
	// naming the calling employee, with upstream sessions per employee.
	AuthIdentityAssertion = "identity_assertion"
	// AuthTokenExchange sends a bearer token the gateway obtains for the
	// calling employee with OAuth 2.0 token exchange (RFC 8693), the
	// employee's verified token as the subject token, with upstream
	// sessions per employee.
	AuthTokenExchange = "token_exchange"
	// AuthOAuth sends each employee's own token from the upstream's own
	// authorization server, which the employee authorizes once on the
	// gateway's connect page; tokens are kept in the vault, per employee.
	AuthOAuth = "oauth"
)

// Token types of RFC 8693 §3 a token_exchange subject token may be named
// with (servers[].auth.subject_token_type).
const (
	// TokenTypeAccessToken is an OAuth 2.0 access token.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeJWT is a JWT.
	TokenTypeJWT = "urn:ietf:params:oauth:token-type:jwt"
	// DefaultSubjectTokenType is used when subject_token_type is omitted.
	DefaultSubjectTokenType = TokenTypeAccessToken
)

// reservedTokenParams are the token request parameters the gateway sets
// itself (RFC 6749, 7523, 8693, 8707): token_params cannot set them.
var reservedTokenParams = []string{
	"grant_type", "subject_token", "subject_token_type", "requested_token_type", "actor_token", "actor_token_type",
	"scope", "audience", "resource", "client_id", "client_secret", "client_assertion", "client_assertion_type",
}

// How client credentials are sent to the token endpoint
// (servers[].auth.auth_style).
const (
	// AuthStyleBasic sends them in an HTTP Basic Authorization header
	// (RFC 6749 §2.3.1, which every authorization server must support).
	AuthStyleBasic = "basic"
	// AuthStylePost sends them as client_id and client_secret form fields.
	AuthStylePost = "post"
	// DefaultAuthStyle is used when auth_style is omitted.
	DefaultAuthStyle = AuthStyleBasic
)

// supportedAuthKinds names the kinds built so far, for messages.
const supportedAuthKinds = AuthHeaders + ", " + AuthClientCredentials + ", " + AuthTokenExchange + ", " + AuthIdentityAssertion + " or " + AuthOAuth

// UpstreamAuth is how the gateway authenticates itself to one upstream
// server. The employee's own token never goes upstream, whatever the kind.
type UpstreamAuth struct {
	// Kind is "headers", "client_credentials", "token_exchange",
	// "identity_assertion" or "oauth". It is required. authKeys lists the
	// keys of each kind.
	Kind string `yaml:"kind"`

	// Headers are the HTTP headers sent to the upstream (kind headers),
	// each value read at every upstream (re)connect.
	Headers []Header `yaml:"headers,omitempty"`

	// TokenURL is the token endpoint of the authorization server (kinds
	// client_credentials and token_exchange). It must be https, or http on a loopback address
	// with AllowInsecureHTTP set.
	TokenURL string `yaml:"token_url,omitempty"`

	// AllowInsecureHTTP permits an http:// TokenURL on a loopback address.
	// If omitted, defaults to false.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http,omitempty"`

	// ClientID is the gateway's client id at the authorization server
	// (kinds client_credentials and token_exchange). It is required.
	ClientID string `yaml:"client_id,omitempty"`

	// ClientSecret is the gateway's client secret (kinds
	// client_credentials and token_exchange), read again at every token request so that a
	// rotated file or variable takes effect. It is required, except with
	// auth_style private_key_jwt, which refuses it.
	ClientSecret *Secret `yaml:"client_secret,omitempty"`

	// ClientKey is the PEM private key the gateway signs its client
	// assertions with (auth_style private_key_jwt, where it is required):
	// RSA of at least 2048 bits (RS256), ECDSA P-256 (ES256) or P-384
	// (ES384), typically a mounted Secret. It is read again at every token
	// request, so that a rotated key takes effect.
	ClientKey *Secret `yaml:"client_key,omitempty"`

	// ClientKeyID is the "kid" header of the client assertions (auth_style
	// private_key_jwt): the id the authorization server registered the
	// public key under. If omitted, none is sent.
	ClientKeyID string `yaml:"client_key_id,omitempty"`

	// ClientAssertionAudience is the "aud" of the client assertions
	// (auth_style private_key_jwt), for authorization servers that want
	// their issuer there. If omitted, defaults to TokenURL.
	ClientAssertionAudience string `yaml:"client_assertion_audience,omitempty"`

	// Scopes is the upstream's scope catalogue (kinds client_credentials
	// and token_exchange):
	// the scopes of its authorization server the gateway may ask for, each
	// with the level of the upstream it covers. Which of them a token is
	// asked with is a policy decision per request
	// (data.mcpgate.authz.upstream_scopes); the gateway's own requests
	// (listing the catalog) ask for those of level read. If omitted, the
	// request names no scope and the authorization server decides.
	Scopes []UpstreamScope `yaml:"scopes,omitempty"`

	// Audience is sent as the "audience" parameter of the token request
	// (kinds client_credentials and token_exchange), which some authorization servers use to
	// pick the token's audience; if omitted, none is sent. For kind
	// identity_assertion it is the assertions' "aud"; if omitted, the
	// server's URL.
	Audience string `yaml:"audience,omitempty"`

	// TTL is the lifetime of the identity assertions (kind
	// identity_assertion), from 1s to 5m. If omitted, defaults to 60s.
	TTL Duration `yaml:"ttl,omitempty"`

	// Resource is sent as the RFC 8707 "resource" parameter: the absolute
	// URI of the upstream the token is for. If omitted, none is sent.
	Resource string `yaml:"resource,omitempty"`

	// AuthStyle is how the client authenticates at the token endpoint:
	// "basic" (client_secret in HTTP Basic), "post" (client_secret in form
	// fields) or "private_key_jwt" (a JWT signed with client_key). If
	// omitted, defaults to "basic".
	AuthStyle string `yaml:"auth_style,omitempty"`

	// SubjectTokenType names the employee's token in the token exchange
	// (kind token_exchange): TokenTypeAccessToken or TokenTypeJWT. If
	// omitted, defaults to TokenTypeAccessToken.
	SubjectTokenType string `yaml:"subject_token_type,omitempty"`

	// AuthorizationServer is the issuer of the upstream's authorization
	// server (kind oauth): https, or http on a loopback address with
	// AllowInsecureHTTP. If omitted, it is discovered from the upstream's
	// protected-resource metadata (RFC 9728).
	AuthorizationServer string `yaml:"authorization_server,omitempty"`

	// TokenParams are extra form parameters of the token exchange request
	// (kind token_exchange), for authorization servers that need their own
	// (Dex: connector_id). The parameters the gateway sets itself
	// (grant_type, subject_token, scope, audience, resource, client
	// authentication, ...) are refused. If omitted, none.
	TokenParams map[string]string `yaml:"token_params,omitempty"`
}

// EffectiveSubjectTokenType returns SubjectTokenType, or
// DefaultSubjectTokenType when omitted.
func (a *UpstreamAuth) EffectiveSubjectTokenType() string {
	if a.SubjectTokenType == "" {
		return DefaultSubjectTokenType
	}
	return a.SubjectTokenType
}

// UpstreamHeaders returns the headers configured for the server: those of
// auth (kind headers) or of the deprecated servers[].headers.
func (s *Server) UpstreamHeaders() []Header {
	if s.Auth != nil && s.Auth.Kind == AuthHeaders {
		return s.Auth.Headers
	}
	return s.Headers
}

// headersPath returns the key path of the headers UpstreamHeaders returns.
func (s *Server) headersPath(path string) string {
	if s.Auth != nil && s.Auth.Kind == AuthHeaders {
		return path + ".auth.headers"
	}
	return path + ".headers"
}

// EffectiveAuthStyle returns AuthStyle, or DefaultAuthStyle when omitted.
func (a *UpstreamAuth) EffectiveAuthStyle() string {
	if a.AuthStyle == "" {
		return DefaultAuthStyle
	}
	return a.AuthStyle
}

// validateAuth checks servers[].auth and its relation to servers[].headers.
func (s *Server) validateAuth(ps *problems, path string) {
	a := s.Auth
	if a == nil {
		validateHeaders(ps, path+".headers", s.Headers)
		return
	}
	if len(s.Headers) > 0 {
		ps.add(path+".headers", "cannot be set together with auth: move the headers to auth.headers (kind headers); servers[].headers is the deprecated spelling of it")
	}
	ap := path + ".auth"
	switch a.Kind {
	case "":
		ps.add(ap+".kind", "is required: use %s", supportedAuthKinds)
	case AuthHeaders:
		validateHeaders(ps, ap+".headers", a.Headers)
	case AuthClientCredentials:
		a.validateTokenEndpoint(ps, ap)
	case AuthIdentityAssertion:
		a.validateIdentityAssertion(ps, ap)
	case AuthTokenExchange:
		a.validateTokenEndpoint(ps, ap)
		a.validateTokenExchange(ps, ap)
	case AuthOAuth:
		a.validateOAuth(ps, ap)
	default:
		ps.add(ap+".kind", "%q is not a kind of upstream credentials: use %s", a.Kind, supportedAuthKinds)
	}
	a.validateKeysOfKind(ps, ap)
}

// authKeys lists, for each key of servers[].auth but kind, the kinds
// that take it.
var authKeys = []struct {
	key   string
	kinds []string
	set   func(*UpstreamAuth) bool
}{
	{"headers", []string{AuthHeaders}, func(a *UpstreamAuth) bool { return len(a.Headers) > 0 }},
	{"token_url", tokenKinds, func(a *UpstreamAuth) bool { return a.TokenURL != "" }},
	{"authorization_server", []string{AuthOAuth}, func(a *UpstreamAuth) bool { return a.AuthorizationServer != "" }},
	{"allow_insecure_http", clientKinds, func(a *UpstreamAuth) bool { return a.AllowInsecureHTTP }},
	{"client_id", clientKinds, func(a *UpstreamAuth) bool { return a.ClientID != "" }},
	{"client_secret", clientKinds, func(a *UpstreamAuth) bool { return a.ClientSecret != nil }},
	{"client_key", tokenKinds, func(a *UpstreamAuth) bool { return a.ClientKey != nil }},
	{"client_key_id", tokenKinds, func(a *UpstreamAuth) bool { return a.ClientKeyID != "" }},
	{"client_assertion_audience", tokenKinds, func(a *UpstreamAuth) bool { return a.ClientAssertionAudience != "" }},
	{"scopes", clientKinds, func(a *UpstreamAuth) bool { return len(a.Scopes) > 0 }},
	{"audience", []string{AuthClientCredentials, AuthTokenExchange, AuthIdentityAssertion}, func(a *UpstreamAuth) bool { return a.Audience != "" }},
	{"resource", clientKinds, func(a *UpstreamAuth) bool { return a.Resource != "" }},
	{"auth_style", tokenKinds, func(a *UpstreamAuth) bool { return a.AuthStyle != "" }},
	{"subject_token_type", []string{AuthTokenExchange}, func(a *UpstreamAuth) bool { return a.SubjectTokenType != "" }},
	{"token_params", []string{AuthTokenExchange}, func(a *UpstreamAuth) bool { return len(a.TokenParams) > 0 }},
	{"ttl", []string{AuthIdentityAssertion}, func(a *UpstreamAuth) bool { return a.TTL != 0 }},
}

// tokenKinds are the kinds that ask a configured token endpoint for their
// tokens; clientKinds, every kind where the gateway is an OAuth client.
var (
	tokenKinds  = []string{AuthClientCredentials, AuthTokenExchange}
	clientKinds = []string{AuthClientCredentials, AuthTokenExchange, AuthOAuth}
)

// validateKeysOfKind refuses keys that belong to another kind, so a key
// that would be silently ignored is reported.
func (a *UpstreamAuth) validateKeysOfKind(ps *problems, path string) {
	for _, k := range authKeys {
		if k.set(a) && !slices.Contains(k.kinds, a.Kind) {
			ps.add(path+"."+k.key, "applies only to kind %s", strings.Join(k.kinds, " or "))
		}
	}
}

// validateTokenEndpoint checks the keys of a kind that asks a token
// endpoint for its tokens (client_credentials, token_exchange).
func (a *UpstreamAuth) validateTokenEndpoint(ps *problems, path string) {
	validateTokenURL(ps, path+".token_url", a.TokenURL, a.AllowInsecureHTTP)
	switch {
	case a.ClientID == "":
		ps.add(path+".client_id", "is required")
	case hasControlChars(a.ClientID):
		ps.add(path+".client_id", "%s", errControlChars)
	}
	a.validateClientAuth(ps, path)
	validateUpstreamScopes(ps, path+".scopes", a.Scopes)
	if hasControlChars(a.Audience) {
		ps.add(path+".audience", "%s", errControlChars)
	}
	validateResource(ps, path+".resource", a.Resource)
	if a.AuthStyle != "" && !slices.Contains([]string{AuthStyleBasic, AuthStylePost, AuthStylePrivateKeyJWT}, a.AuthStyle) {
		ps.add(path+".auth_style", "%q is not supported: use %s, %s or %s", a.AuthStyle, AuthStyleBasic, AuthStylePost, AuthStylePrivateKeyJWT)
	}
}

// validateTokenExchange checks the keys of kind token_exchange alone.
func (a *UpstreamAuth) validateTokenExchange(ps *problems, path string) {
	switch a.SubjectTokenType {
	case "", TokenTypeAccessToken, TokenTypeJWT:
	default:
		ps.add(path+".subject_token_type", "%q is not supported: use %s (the default) or %s", a.SubjectTokenType, TokenTypeAccessToken, TokenTypeJWT)
	}
	names := slices.Sorted(maps.Keys(a.TokenParams))
	for _, k := range names {
		p := path + ".token_params." + k
		switch {
		case slices.Contains(reservedTokenParams, strings.ToLower(k)):
			ps.add(p, "cannot be set: the gateway sets %s itself", k)
		case k == "" || !isScopeToken(k):
			ps.add(p, "%q is not a valid parameter name: use printable ASCII without spaces", k)
		case hasControlChars(a.TokenParams[k]):
			ps.add(p, "%s", errControlChars)
		}
	}
}

// validateTokenURL checks a token endpoint: https, or http on a loopback
// address when allowed, without credentials or fragment.
func validateTokenURL(ps *problems, path, raw string, allowHTTP bool) {
	if raw == "" {
		ps.add(path, "is required")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		ps.add(path, "%q is not valid: use an absolute URL, e.g. https://login.example.com/oauth2/token", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		ps.add(path, "scheme %q is not supported: use https", u.Scheme)
	case u.User != nil:
		ps.add(path, "must not contain credentials: set client_id and client_secret")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		ps.add(path, "must not have a fragment")
	case u.Scheme == "http" && !(allowHTTP && authrule.IsLoopbackHost(u.Hostname())):
		ps.add(path, "must be https (http only on a loopback address with allow_insecure_http set)")
	}
}

// provisionAuth checks that the server's secrets are readable now; they
// are read again at each use, so only errors are kept.
func (s *Server) provisionAuth(ps *problems, path string) {
	hp := s.headersPath(path)
	for j, h := range s.UpstreamHeaders() {
		_, err := h.resolve()
		ps.addErr(hp+"["+strconv.Itoa(j)+"]."+h.sourceKey(), err)
	}
	if s.Auth != nil && slices.Contains(clientKinds, s.Auth.Kind) && s.Auth.ClientSecret != nil {
		sec := s.Auth.ClientSecret
		v, err := sec.Resolve()
		if err == nil && hasControlChars(v) {
			err = fmt.Errorf("the secret contains control characters")
		}
		ps.addErr(path+".auth.client_secret."+sec.sourceKey(), err)
	}
	if s.Auth != nil && slices.Contains(tokenKinds, s.Auth.Kind) {
		s.Auth.provisionClientKey(ps, path)
	}
}

// sourceKey returns the YAML key of the secret's source.
func (s *Secret) sourceKey() string {
	if s.ValueFromEnv != "" {
		return "value_from_env"
	}
	return "value_from_file"
}
