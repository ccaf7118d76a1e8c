package authserver

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// ClientMetadata is an OAuth client's metadata (RFC 7591 §2), from a
// dynamic registration, a Client ID Metadata Document, or the
// configuration.
type ClientMetadata struct {
	ClientID                string   `json:"client_id,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
}

// Limits on client metadata: a client's metadata is shown on the consent
// page and stored, and anyone may register a client.
const (
	maxRedirectURIs    = 10
	maxURIBytes        = 2000 // redirect, client and logo URIs
	maxClientNameRunes = 200
	maxSoftwareRunes   = 200 // software_id, software_version
	maxScopeBytes      = 1000
)

// Values of client metadata the authorization server supports.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	responseTypeCode       = "code"
	authMethodNone         = "none"
	authMethodSecretBasic  = "client_secret_basic"
	authMethodSecretPost   = "client_secret_post"
)

// Error codes of a refused client registration (RFC 7591 §3.2.2).
const (
	codeInvalidRedirectURI    = "invalid_redirect_uri"
	codeInvalidClientMetadata = "invalid_client_metadata"
)

// metadataError is refused client metadata: Code is an RFC 7591 §3.2.2
// error code, Description says what is wrong, in the form "field: the
// rule", for the error_description of an OAuth error response.
type metadataError struct {
	Code        string
	Description string
}

func (e *metadataError) Error() string { return e.Code + ": " + e.Description }

// problems collects every problem of a client's metadata, in field order.
// The error's code is the first problem's.
type problems struct {
	code string
	list []string
}

func (p *problems) add(code, format string, args ...any) {
	if p.code == "" {
		p.code = code
	}
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &metadataError{Code: p.code, Description: strings.Join(p.list, "; ")}
}

// normalize checks the metadata of a dynamically registered or configured
// client and fills in the defaults: grant_types authorization_code and
// refresh_token, response_types code, and token_endpoint_auth_method
// client_secret_basic (RFC 7591 §2; a public client asks for "none").
// Accepted methods: none, client_secret_basic, client_secret_post. The
// error, a *metadataError, lists every problem.
func (m *ClientMetadata) normalize() error {
	return m.normalizeWith([]string{authMethodNone, authMethodSecretBasic, authMethodSecretPost}, authMethodSecretBasic)
}

// normalizeCIMD is normalize for a Client ID Metadata Document, which
// cannot carry a shared secret (draft-ietf-oauth-client-id-metadata-document
// §4.1): the only token_endpoint_auth_method accepted, and the default, is
// "none". private_key_jwt, which the draft allows, is not supported.
func (m *ClientMetadata) normalizeCIMD() error {
	return m.normalizeWith([]string{authMethodNone}, authMethodNone)
}

func (m *ClientMetadata) normalizeWith(authMethods []string, defaultAuthMethod string) error {
	var p problems
	m.checkRedirectURIs(&p)
	m.normalizeGrants(&p)
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = defaultAuthMethod
	}
	if !slices.Contains(authMethods, m.TokenEndpointAuthMethod) {
		p.add(codeInvalidClientMetadata, "token_endpoint_auth_method: %q is not supported: use %s",
			m.TokenEndpointAuthMethod, strings.Join(authMethods, " or "))
	}
	checkText(&p, "client_name", m.ClientName, maxClientNameRunes)
	checkText(&p, "software_id", m.SoftwareID, maxSoftwareRunes)
	checkText(&p, "software_version", m.SoftwareVersion, maxSoftwareRunes)
	checkWebURI(&p, "client_uri", m.ClientURI)
	checkWebURI(&p, "logo_uri", m.LogoURI)
	checkScope(&p, m.Scope)
	return p.err()
}

func (m *ClientMetadata) checkRedirectURIs(p *problems) {
	switch n := len(m.RedirectURIs); {
	case n == 0:
		p.add(codeInvalidRedirectURI, "redirect_uris: at least one is required")
	case n > maxRedirectURIs:
		p.add(codeInvalidRedirectURI, "redirect_uris: %d given, at most %d are allowed", n, maxRedirectURIs)
		return
	}
	for i, uri := range m.RedirectURIs {
		if err := checkRedirectURI(uri); err != nil {
			p.add(codeInvalidRedirectURI, "redirect_uris[%d]: %v", i, err)
		}
	}
}

// normalizeGrants checks grant_types and response_types and fills in
// their defaults. The authorization code flow is the only flow: refresh
// tokens come with it, response type code is its only response type
// (RFC 7591 §2.1).
func (m *ClientMetadata) normalizeGrants(p *problems) {
	if m.GrantTypes == nil {
		m.GrantTypes = []string{grantAuthorizationCode, grantRefreshToken}
	}
	if m.ResponseTypes == nil {
		m.ResponseTypes = []string{responseTypeCode}
	}
	for i, g := range m.GrantTypes {
		if g != grantAuthorizationCode && g != grantRefreshToken {
			p.add(codeInvalidClientMetadata, "grant_types[%d]: %q is not supported: use authorization_code and refresh_token", i, g)
		}
	}
	if !slices.Contains(m.GrantTypes, grantAuthorizationCode) {
		p.add(codeInvalidClientMetadata, "grant_types: must include authorization_code")
	}
	for i, r := range m.ResponseTypes {
		if r != responseTypeCode {
			p.add(codeInvalidClientMetadata, "response_types[%d]: %q is not supported: use code", i, r)
		}
	}
	if len(m.ResponseTypes) == 0 {
		p.add(codeInvalidClientMetadata, "response_types: must include code")
	}
}

// checkText checks a free-text field shown to users: valid UTF-8, at most
// maxRunes characters, no control or invisible formatting characters
// (which could, e.g., reverse the text around them on the consent page).
func checkText(p *problems, field, s string, maxRunes int) {
	switch {
	case !utf8.ValidString(s):
		p.add(codeInvalidClientMetadata, "%s: must be valid UTF-8", field)
	case utf8.RuneCountInString(s) > maxRunes:
		p.add(codeInvalidClientMetadata, "%s: longer than %d characters", field, maxRunes)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) }) >= 0:
		p.add(codeInvalidClientMetadata, "%s: must not contain control or formatting characters", field)
	}
}

// checkWebURI checks a URI the consent page may link to or load: empty,
// or https (http on a loopback host) with a host and no user info.
func checkWebURI(p *problems, field, uri string) {
	if uri == "" {
		return
	}
	u, err := parseURI(uri)
	switch {
	case err != nil:
		p.add(codeInvalidClientMetadata, "%s: %v", field, err)
	case u.User != nil:
		p.add(codeInvalidClientMetadata, "%s: must not contain user info", field)
	case u.Scheme == "https" && u.Hostname() != "":
	case u.Scheme == "http" && authrule.IsLoopbackHost(u.Hostname()):
	default:
		p.add(codeInvalidClientMetadata, "%s: must be an https URL", field)
	}
}

// checkScope checks the syntax of a scope value (RFC 6749 §3.3): scope
// tokens separated by single spaces. Which scopes a client gets is policy's
// decision, not registration's.
func checkScope(p *problems, scope string) {
	if scope == "" {
		return
	}
	if len(scope) > maxScopeBytes {
		p.add(codeInvalidClientMetadata, "scope: longer than %d bytes", maxScopeBytes)
		return
	}
	for tok := range strings.SplitSeq(scope, " ") {
		if tok == "" || strings.ContainsFunc(tok, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) {
			p.add(codeInvalidClientMetadata, "scope: must be scope tokens separated by single spaces (RFC 6749 §3.3)")
			return
		}
	}
}

// parseURI parses an absolute URI of printable ASCII without a fragment,
// length limited.
func parseURI(uri string) (*url.URL, error) {
	switch {
	case len(uri) > maxURIBytes:
		return nil, fmt.Errorf("longer than %d bytes", maxURIBytes)
	case strings.ContainsFunc(uri, notURIChar):
		return nil, fmt.Errorf("%q: must be printable ASCII without spaces (percent-encode the rest)", uri)
	case strings.Contains(uri, "#"):
		return nil, fmt.Errorf("%q: must not have a fragment", uri)
	}
	u, err := url.Parse(uri)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q: not a valid URI", uri)
	case !u.IsAbs():
		return nil, fmt.Errorf("%q: not an absolute URI", uri)
	}
	return u, nil
}

// notURIChar reports a character that may not appear unencoded in a URI
// (RFC 3986 §2): controls, space, non-ASCII, and "<>\^`{|}.
func notURIChar(r rune) bool {
	return r <= ' ' || r >= 0x7f || strings.ContainsRune("\"<>\\^`{|}", r)
}

// checkRedirectURI checks a redirect URI a client registers: absolute,
// without fragment or user info, and one of
//   - https with a host;
//   - http on a loopback host: 127.0.0.1 (or another loopback IP literal),
//     [::1] or localhost, for native apps (RFC 8252 §7.3);
//   - a private-use scheme in reverse-domain form, with a dot, such as
//     com.example.app:/callback (RFC 8252 §7.1). Schemes without a dot
//     (javascript:, data:, file:, …) are refused.
func checkRedirectURI(uri string) error {
	u, err := parseURI(uri)
	switch {
	case err != nil:
		return err
	case u.User != nil:
		return fmt.Errorf("%q: must not contain user info", uri)
	case u.Scheme == "https" && u.Hostname() == "":
		return fmt.Errorf("%q: https needs a host", uri)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && authrule.IsLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%q: http is allowed only on a loopback host (127.0.0.1, [::1] or localhost): use https", uri)
	case strings.Contains(u.Scheme, "."):
		return nil
	}
	return fmt.Errorf("%q: scheme %q is not allowed: use https, http on a loopback host, or a private-use scheme such as com.example.app (RFC 8252 §7.1)", uri, u.Scheme)
}

// redirectURIMatches reports whether got, the redirect_uri of a request,
// is one of the registered redirect URIs: compared as strings, exactly,
// except that a loopback http redirect URI (http://127.0.0.1, http://[::1]
// or http://localhost) matches on any port when everything else is
// identical, since native apps listen on ports the system assigns
// (RFC 8252 §7.3).
func redirectURIMatches(registered []string, got string) bool {
	if slices.Contains(registered, got) {
		return true
	}
	key, ok := loopbackKey(got)
	if !ok {
		return false
	}
	for _, r := range registered {
		if k, ok := loopbackKey(r); ok && k == key {
			return true
		}
	}
	return false
}

// loopbackHosts are the hosts whose http redirect URIs match on any port,
// spelled as in the URI.
var loopbackHosts = []string{"127.0.0.1", "[::1]", "localhost"}

// loopbackKey returns uri without its port when uri is an http URI on a
// loopback host: "http://", the host exactly as in loopbackHosts, an
// optional port, then the rest. It works on the string, not on a parsed
// URL, so that no parser's leniency (user info, backslashes, encodings)
// can make two different URIs equal.
func loopbackKey(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "http://")
	if !ok {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	for _, h := range loopbackHosts {
		if p, ok := strings.CutPrefix(authority, h); ok && (p == "" || validPort(p)) {
			return "http://" + h + tail, true
		}
	}
	return "", false
}

// validPort reports whether p is ":" and a port number from 1 to 65535.
func validPort(p string) bool {
	digits, ok := strings.CutPrefix(p, ":")
	if !ok || digits == "" || len(digits) > 5 || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return false
	}
	n, err := strconv.Atoi(digits)
	return err == nil && n >= 1 && n <= 65535
}

// redirectHost returns where a redirect URI sends the user's browser, as
// the consent page shows it: the lowercase host (and a non-default port)
// of an https URI, the host of a loopback http URI (its port changes from
// run to run), the scheme of a private-use URI (an app on the user's
// device), or "" when uri does not parse.
func redirectHost(uri string) string {
	u, err := parseURI(uri)
	switch {
	case err != nil:
		return ""
	case u.Scheme == "https":
		return strings.TrimSuffix(strings.ToLower(u.Host), ":443")
	case u.Scheme == "http":
		return strings.ToLower(u.Hostname())
	}
	return u.Scheme
}

// clone returns a deep copy of m.
func (m *ClientMetadata) clone() *ClientMetadata {
	c := *m
	c.RedirectURIs = slices.Clone(m.RedirectURIs)
	c.GrantTypes = slices.Clone(m.GrantTypes)
	c.ResponseTypes = slices.Clone(m.ResponseTypes)
	return &c
}
