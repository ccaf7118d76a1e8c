package connections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/authrule"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// metaTTL is how long discovered metadata is reused; metaFailureTTL, how
// long a failed discovery is answered from memory.
const (
	metaTTL        = time.Hour
	metaFailureTTL = 10 * time.Second
)

// metaFailure is a failed discovery and when it happened.
type metaFailure struct {
	err error
	at  time.Time
}

// serverMeta is what the gateway knows of an upstream's authorization
// server, and its client there.
type serverMeta struct {
	issuer        string
	authURL       string
	tokenURL      string
	revocationURL string
	// issParam: the server sends iss in its authorization responses (RFC
	// 9207), which the callback then requires.
	issParam     bool
	clientID     string
	clientSecret func() (string, error) // nil: public client
	fetched      time.Time
}

// oauth2Config is the authorization code client for the upstream.
func (s *serverMeta) oauth2Config(redirectURI string, scopes []string) (*oauth2.Config, error) {
	c := &oauth2.Config{ClientID: s.clientID, RedirectURL: redirectURI, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: s.authURL, TokenURL: s.tokenURL}}
	if s.clientSecret != nil {
		secret, err := s.clientSecret()
		if err != nil {
			return nil, fmt.Errorf("client secret: %w", err)
		}
		c.ClientSecret = secret
	}
	return c, nil
}

// registeredClient is a client the gateway registered (RFC 7591), kept in
// the vault per (upstream, issuer).
type registeredClient struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// RedirectURI is the redirect URI it was registered with: a client
	// registered for another (public_url changed, or before redirect URIs
	// were per upstream) is registered again.
	RedirectURI string `json:"redirect_uri,omitempty"`
}

// resolve returns the upstream's authorization server metadata and the
// gateway's client there, discovering and registering on first use.
func (m *Manager) resolve(ctx context.Context, u *Upstream) (*serverMeta, error) {
	// One discovery at a time per upstream; a slow or failing server holds
	// up only its own upstream, and a failure is remembered for a while
	// rather than tried again by every request.
	unlock := m.locks.lock("meta\x00" + u.Name)
	defer unlock()
	m.metaMu.Lock()
	s, failed := m.meta[u.Name], m.metaErr[u.Name]
	m.metaMu.Unlock()
	now := m.opts.Now()
	switch {
	case s != nil && now.Sub(s.fetched) < metaTTL:
		return s, nil
	case failed != nil && now.Sub(failed.at) < metaFailureTTL:
		return nil, failed.err
	}
	s, err := m.discover(ctx, u)
	m.metaMu.Lock()
	defer m.metaMu.Unlock()
	if err != nil {
		err = fmt.Errorf("connections: server %q: %w", u.Name, err)
		if ctx.Err() == nil { // not one caller's cancellation: everyone's answer for a while
			m.metaErr[u.Name] = &metaFailure{err: err, at: now}
		}
		return nil, err
	}
	delete(m.metaErr, u.Name)
	m.meta[u.Name] = s
	return s, nil
}

func (m *Manager) discover(ctx context.Context, u *Upstream) (*serverMeta, error) {
	issuer := u.AuthorizationServer
	if issuer == "" {
		var err error
		if issuer, err = m.discoverIssuer(ctx, u); err != nil {
			return nil, err
		}
	}
	asm, err := m.authServerMeta(ctx, u, issuer)
	if err != nil {
		return nil, err
	}
	for _, e := range []struct{ name, url string }{{"authorization_endpoint", asm.AuthorizationEndpoint}, {"token_endpoint", asm.TokenEndpoint}} {
		if err := checkEndpoint(e.url, u.AllowInsecureHTTP); err != nil {
			return nil, fmt.Errorf("authorization server %s: %s: %w", issuer, e.name, err)
		}
	}
	s := &serverMeta{issuer: issuer, authURL: asm.AuthorizationEndpoint, tokenURL: asm.TokenEndpoint, fetched: m.opts.Now(),
		issParam: asm.AuthorizationResponseIssParameterSupported}
	if checkEndpoint(asm.RevocationEndpoint, u.AllowInsecureHTTP) == nil {
		s.revocationURL = asm.RevocationEndpoint
	}
	switch {
	case u.ClientID != "":
		s.clientID, s.clientSecret = u.ClientID, u.ClientSecret
		return s, nil
	case asm.ClientIDMetadataDocumentSupported && m.base.Scheme == "https":
		// The MCP authorization spec's preferred registration: the
		// client id is the URL of the gateway's metadata document, which
		// the server fetches; a public client, PKCE its proof.
		s.clientID = m.clientMetadataURL(u)
		return s, nil
	}
	rc, err := m.registeredClient(ctx, u, issuer, asm)
	if err != nil {
		return nil, err
	}
	s.clientID = rc.ClientID
	if rc.ClientSecret != "" {
		secret := rc.ClientSecret
		s.clientSecret = func() (string, error) { return secret, nil }
	}
	return s, nil
}

// discoverIssuer reads the upstream's protected-resource metadata (RFC
// 9728: the well-known URL with the resource's path, then without) and
// returns its first authorization server.
func (m *Manager) discoverIssuer(ctx context.Context, u *Upstream) (string, error) {
	res, err := url.Parse(u.URL)
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	var errs []error
	for _, p := range []string{strings.TrimSuffix(res.EscapedPath(), "/"), ""} {
		mu := url.URL{Scheme: res.Scheme, Host: res.Host, Path: "/.well-known/oauth-protected-resource" + p}
		prm, err := oauthex.GetProtectedResourceMetadata(ctx, mu.String(), u.resource(), m.hc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(prm.AuthorizationServers) == 0 {
			return "", fmt.Errorf("protected-resource metadata at %s names no authorization server: set auth.authorization_server", mu.String())
		}
		if err := checkEndpoint(prm.AuthorizationServers[0], u.AllowInsecureHTTP); err != nil {
			return "", fmt.Errorf("protected-resource metadata: authorization server: %w", err)
		}
		return prm.AuthorizationServers[0], nil
	}
	return "", fmt.Errorf("no protected-resource metadata (RFC 9728) found for %s: set auth.authorization_server: %w", u.URL, errors.Join(errs...))
}

// authServerMeta fetches RFC 8414 metadata, or OpenID Connect discovery
// for servers that only have that (Dex, most IdPs).
func (m *Manager) authServerMeta(ctx context.Context, u *Upstream, issuer string) (*oauthex.AuthServerMeta, error) {
	iu, err := url.Parse(issuer)
	if err != nil || !iu.IsAbs() {
		return nil, fmt.Errorf("authorization server %q is not an absolute URL", issuer)
	}
	path := strings.TrimSuffix(iu.EscapedPath(), "/")
	root := iu.Scheme + "://" + iu.Host
	var errs []error
	for _, mu := range []string{
		root + "/.well-known/oauth-authorization-server" + path,
		root + "/.well-known/openid-configuration" + path,
		strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
	} {
		asm, err := oauthex.GetAuthServerMeta(ctx, mu, issuer, m.client(u))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if asm != nil {
			return asm, nil
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("authorization server %s: metadata: %w", issuer, errors.Join(errs...))
	}
	return nil, fmt.Errorf("authorization server %s publishes no metadata (RFC 8414 or OpenID Connect discovery)", issuer)
}

// registeredClient returns the client the gateway registered at issuer
// for u, registering one (RFC 7591) the first time.
func (m *Manager) registeredClient(ctx context.Context, u *Upstream, issuer string, asm *oauthex.AuthServerMeta) (*registeredClient, error) {
	if raw, ok, err := m.opts.Vault.Get(ctx, nsClient, u.Name, issuer); err != nil {
		return nil, err
	} else if ok {
		var rc registeredClient
		if err := json.Unmarshal(raw, &rc); err == nil && rc.ClientID != "" && rc.RedirectURI == m.redirectURI(u) {
			return &rc, nil
		}
	}
	if asm.RegistrationEndpoint == "" {
		return nil, fmt.Errorf("authorization server %s offers no dynamic client registration: register the gateway there and set auth.client_id", issuer)
	}
	if err := checkEndpoint(asm.RegistrationEndpoint, u.AllowInsecureHTTP); err != nil {
		return nil, fmt.Errorf("registration_endpoint: %w", err)
	}
	resp, err := oauthex.RegisterClient(ctx, asm.RegistrationEndpoint, &oauthex.ClientRegistrationMetadata{
		RedirectURIs: []string{m.redirectURI(u)}, ClientName: "mcpgate",
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "client_secret_basic",
	}, m.client(u))
	if err != nil {
		return nil, fmt.Errorf("dynamic client registration at %s: %w", asm.RegistrationEndpoint, truncated(err))
	}
	rc := &registeredClient{ClientID: resp.ClientID, ClientSecret: resp.ClientSecret, RedirectURI: m.redirectURI(u)}
	raw, _ := json.Marshal(rc)
	var expires time.Time
	if !resp.ClientSecretExpiresAt.IsZero() {
		expires = resp.ClientSecretExpiresAt
	}
	if err := m.opts.Vault.Put(ctx, nsClient, u.Name, issuer, raw, expires); err != nil {
		return nil, err
	}
	m.log.Info("registered the gateway as a client of an upstream's authorization server", "upstream", u.Name, "issuer", issuer)
	return rc, nil
}

// checkEndpoint accepts https URLs, and http on loopback when allowed.
func checkEndpoint(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("missing")
	case err != nil || !u.IsAbs() || u.Host == "":
		return fmt.Errorf("%q is not an absolute URL", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowHTTP && authrule.IsLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q must be https (http only on loopback with allow_insecure_http)", raw)
}

// clientMetadataURL is the gateway's client id for u at servers that
// support Client ID Metadata Documents.
func (m *Manager) clientMetadataURL(u *Upstream) string {
	return m.pageURL(PathClientMetadata+"/"+url.PathEscape(u.Name)+".json", nil)
}

// clientMetadata is the gateway's Client ID Metadata Document for u
// (draft-ietf-oauth-client-id-metadata-document): a public client that
// redirects only to u's connect callback.
func (m *Manager) clientMetadata(u *Upstream) map[string]any {
	return map[string]any{
		"client_id":                  m.clientMetadataURL(u),
		"client_name":                "mcpgate",
		"client_uri":                 m.pageURL("", nil),
		"redirect_uris":              []string{m.redirectURI(u)},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	}
}

// maxErrorText bounds the text of a remote error kept in an error.
const maxErrorText = 300

// truncated shortens an error that may quote a remote answer.
func truncated(err error) error {
	if msg := err.Error(); len(msg) > maxErrorText {
		return errors.New(truncate(msg, maxErrorText))
	}
	return err
}
