package config

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"net/url"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// Defaults and bounds of the web_sign_in section.
const (
	DefaultWebSessionTTL = Duration(8 * time.Hour)
	MaxWebSessionTTL     = Duration(7 * 24 * time.Hour)
)

// webCookieKeyInfo is the HKDF info deriving cookie keys from session
// keys: the derived keys differ from the session keys, and from keys
// derived for any other purpose.
const webCookieKeyInfo = "mcpgate web sign-in cookie key v1"

// WebSignIn signs employees in, in a browser, to the gateway's own pages
// (the oauth upstreams' connect and connections pages, the console)
// through the OpenID Connect provider they use for MCP: the
// authorization code flow with PKCE, then a sealed session cookie (see
// docs/identity-providers.md). Register <public_url>/signin/callback as
// a redirect URI of the client.
type WebSignIn struct {
	// Enabled turns web sign-in on. If omitted, defaults to false.
	Enabled bool `yaml:"enabled,omitempty"`

	// Issuer is the provider employees sign in at; the identity is mapped
	// with its claims mapping. It must be one of auth.issuers[].issuer or,
	// in authorization-server mode, authorization_server.idp.issuer (the
	// gateway's own issuer signs no ID tokens). If omitted, the
	// authorization server's IdP, or else the only entry of auth.issuers.
	Issuer string `yaml:"issuer,omitempty"`

	// ClientID is the gateway's client at that provider; the ID token's
	// aud must name it. Required, except for the authorization server's
	// IdP, whose client it defaults to (add the redirect URI there).
	ClientID string `yaml:"client_id,omitempty"`

	// ClientSecret is that client's secret, read at each sign-in so a
	// rotated file is picked up. Required with ClientID.
	ClientSecret *Secret `yaml:"client_secret,omitempty"`

	// Scopes are asked of the provider; they must include openid. If
	// omitted, those of the authorization server's IdP when it is the
	// provider, else openid, email and profile (add groups for Dex, Okta).
	Scopes []string `yaml:"scopes,omitempty"`

	// AuthParams are extra authorization request parameters, e.g.
	// {prompt: select_account}. The flow's own ones cannot be set.
	AuthParams map[string]string `yaml:"auth_params,omitempty"`

	// CookieKeyFile holds the keys that seal session cookies, in the
	// format of session_key_file (one base64 32-byte key per line, the
	// first seals, all open); its keys must be its own. If omitted, they
	// are derived (HKDF-SHA256) from the keys of session_key_file, one
	// for each, so rotating those rotates these.
	CookieKeyFile string `yaml:"cookie_key_file,omitempty"`

	// TTL is how long a browser session lasts from sign-in, whatever the
	// ID token's exp; at most 168h. If omitted, defaults to 8h.
	TTL Duration `yaml:"ttl"`
}

// WebSignInProvider is the provider and client of web sign-in, resolved
// from web_sign_in and the sections it defaults from.
type WebSignInProvider struct {
	Issuer       string
	Claims       Claims
	ClientID     string
	ClientSecret *Secret
	Scopes       []string
	AuthParams   map[string]string
}

// WebSignInProvider resolves the provider of web sign-in; ok is false
// when web sign-in is off or no provider can be resolved (validation
// reports why).
func (c *Config) WebSignInProvider() (p WebSignInProvider, ok bool) {
	w := &c.WebSignIn
	if !w.Enabled {
		return p, false
	}
	idp := &c.AuthorizationServer.IdP
	viaAS := c.AuthorizationServer.Enabled && (w.Issuer == "" || w.Issuer == idp.Issuer)
	switch {
	case viaAS:
		p = WebSignInProvider{Issuer: idp.Issuer, Claims: idp.Claims, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
			Scopes: idp.EffectiveScopes(), AuthParams: idp.AuthParams}
	case w.Issuer == "" && len(c.Auth.Issuers) == 1:
		p = WebSignInProvider{Issuer: c.Auth.Issuers[0].Issuer, Claims: c.Auth.Issuers[0].Claims}
	default:
		i := slices.IndexFunc(c.Auth.Issuers, func(is Issuer) bool { return w.Issuer != "" && is.Issuer == w.Issuer })
		if i < 0 {
			return p, false
		}
		p = WebSignInProvider{Issuer: w.Issuer, Claims: c.Auth.Issuers[i].Claims}
	}
	if w.ClientID != "" {
		p.ClientID, p.ClientSecret = w.ClientID, w.ClientSecret
	}
	if len(w.Scopes) > 0 {
		p.Scopes = w.Scopes
	} else if !viaAS {
		p.Scopes = DefaultIdPScopes
	}
	if len(w.AuthParams) > 0 {
		p.AuthParams = w.AuthParams
	}
	return p, true
}

func (c *Config) validateWebSignIn(ps *problems) {
	w := &c.WebSignIn
	if !w.Enabled {
		return
	}
	const p = "web_sign_in"
	p0, ok := c.WebSignInProvider()
	switch {
	case ok:
	case w.Issuer == "":
		ps.add(p+".issuer", "is required: auth.issuers lists %d issuers; name the one employees sign in at", len(c.Auth.Issuers))
	default:
		ps.add(p+".issuer", "%q is neither one of auth.issuers nor authorization_server.idp.issuer: pages trust only an issuer /mcp trusts", w.Issuer)
	}
	if ok && p0.ClientID == "" {
		ps.add(p+".client_id", "is required: the gateway's client at %s, with redirect URI %s/signin/callback", p0.Issuer, c.PublicURL)
	}
	if w.ClientID != "" && w.ClientSecret == nil {
		ps.add(p+".client_secret", "is required with client_id: set value_from_env or value_from_file")
	}
	if w.ClientSecret != nil && w.ClientSecret.sources() != 1 {
		ps.add(p+".client_secret", "%s", errSecretSources)
	}
	if len(w.Scopes) > 0 && !slices.Contains(w.Scopes, "openid") {
		ps.add(p+".scopes", "must include openid: web sign-in reads the ID token")
	}
	validateAuthParams(ps, p+".auth_params", w.AuthParams)
	if w.CookieKeyFile == "" && c.SessionKeyFile == "" {
		ps.add(p+".cookie_key_file", "is required without session_key_file: the keys that seal session cookies (generate one with: head -c 32 /dev/urandom | base64)")
	}
	if w.TTL <= 0 || w.TTL > MaxWebSessionTTL {
		ps.add(p+".ttl", "must be between 1s and %s", MaxWebSessionTTL)
	}
	if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme == "http" && !authrule.IsLoopbackHost(u.Hostname()) {
		ps.add("public_url", "must be https for web_sign_in (http only on loopback): session cookies must not cross the network in the clear")
	}
}

// provisionWebCookieKeys reads web_sign_in.cookie_key_file, or derives the
// cookie keys from sessionKeys. A key of the file that is also a session
// or vault key is refused: one key, one purpose.
func (c *Config) provisionWebCookieKeys(ps *problems, sessionKeys, vaultKeys [][]byte) [][]byte {
	w := &c.WebSignIn
	if !w.Enabled {
		return nil
	}
	if w.CookieKeyFile == "" {
		return deriveKeys(sessionKeys, webCookieKeyInfo)
	}
	keys, err := readKeyFile(w.CookieKeyFile)
	if err != nil {
		ps.addErr("web_sign_in.cookie_key_file", err)
		return nil
	}
	for i, k := range keys {
		same := func(o []byte) bool { return bytes.Equal(o, k) }
		if slices.ContainsFunc(sessionKeys, same) || slices.ContainsFunc(vaultKeys, same) {
			ps.add("web_sign_in.cookie_key_file", "key %d is also a key of session_key_file or store.vault_key_file: give the cookies keys of their own", i+1)
		}
	}
	return keys
}

// deriveKeys derives one key from each of keys with HKDF-SHA256 and info.
func deriveKeys(keys [][]byte, info string) [][]byte {
	var out [][]byte
	for _, k := range keys {
		d, err := hkdf.Key(sha256.New, k, nil, info, SessionKeySize)
		if err != nil {
			continue // impossible for 32 bytes of SHA-256 output
		}
		out = append(out, d)
	}
	return out
}
