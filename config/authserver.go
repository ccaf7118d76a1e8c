package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// Defaults and bounds of the authorization_server section.
const (
	DefaultAccessTokenTTL     = Duration(5 * time.Minute)
	MaxAccessTokenTTL         = Duration(time.Hour)
	DefaultRefreshTokenTTL    = Duration(24 * time.Hour)
	DefaultRefreshMaxLifetime = Duration(7 * 24 * time.Hour)
	DefaultConsentTTL         = Duration(30 * 24 * time.Hour)
)

// DefaultIdPScopes are the scopes asked of the corporate IdP when
// authorization_server.idp.scopes is omitted.
var DefaultIdPScopes = []string{"openid", "email", "profile"}

// AuthorizationServer makes the gateway the OAuth 2.1 authorization server
// MCP clients see: clients register with it (Client ID Metadata Documents,
// dynamic registration, or this file), employees sign in at the corporate
// IdP through one pre-registered client, every scope grant is decided by
// policy (data.mcpgate.authz.grant), and the gateway issues its own access
// tokens. It needs a store (registrations, consents, codes and refresh
// tokens outlive a request). See docs/identity-providers.md.
type AuthorizationServer struct {
	// Enabled turns the mode on. If omitted, defaults to false.
	Enabled bool `yaml:"enabled,omitempty"`

	// IdP is the corporate OpenID Connect provider employees sign in at.
	IdP IdP `yaml:"idp"`

	// SigningKeys are PEM files (PKCS#8 or PKCS#1/SEC 1 private keys:
	// RSA of at least 2048 bits, ECDSA P-256, or Ed25519), typically a
	// mounted Secret. The first signs; every key is published in the
	// JWKS, so a key being rotated in goes second first, and a key being
	// rotated out stays listed until the tokens it signed expired. At
	// least one.
	SigningKeys []Secret `yaml:"signing_keys,omitempty"`

	// AccessTokenTTL is the lifetime of the access tokens the gateway
	// issues (at most 1h). If omitted, defaults to 5m.
	AccessTokenTTL Duration `yaml:"access_token_ttl"`

	// RefreshTokenTTL is how long a refresh token may go unused. If
	// omitted, defaults to 24h.
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`

	// RefreshMaxLifetime bounds a sign-in: past it, refresh stops and the
	// employee signs in at the IdP again, which picks up group changes.
	// If omitted, defaults to 168h (7 days).
	RefreshMaxLifetime Duration `yaml:"refresh_max_lifetime"`

	// ConsentTTL is how long an employee's consent to a client is
	// remembered. If omitted, defaults to 720h (30 days).
	ConsentTTL Duration `yaml:"consent_ttl"`

	// DynamicRegistration enables RFC 7591 registration at
	// /oauth/register; each registration is itself a policy decision
	// (phase register). If omitted, defaults to true.
	DynamicRegistration *bool `yaml:"dynamic_registration,omitempty"`

	// ClientIDMetadataDocuments configures clients whose client_id is
	// the https URL of their metadata document.
	ClientIDMetadataDocuments ClientIDMetadataDocuments `yaml:"client_id_metadata_documents"`

	// Clients are pre-registered clients.
	Clients []OAuthClient `yaml:"clients,omitempty"`
}

// IdP is the corporate OpenID Connect provider of authorization-server
// mode, and the client registered there for the gateway.
type IdP struct {
	// Issuer is the IdP's issuer identifier; its discovery document is
	// Issuer + "/.well-known/openid-configuration". Required; https (http
	// only for loopback addresses).
	Issuer string `yaml:"issuer"`

	// ClientID is the gateway's client id at the IdP. Required.
	ClientID string `yaml:"client_id"`

	// ClientSecret is that client's secret. Required.
	ClientSecret *Secret `yaml:"client_secret,omitempty"`

	// Scopes are asked of the IdP. If omitted, openid, email and profile.
	Scopes []string `yaml:"scopes,omitempty"`

	// AuthParams are extra parameters of the IdP's authorization request,
	// for example {"prompt": "select_account"} or an Okta idp hint. The
	// flow's own parameters (client_id, redirect_uri, state, nonce, PKCE,
	// scope, response_type) cannot be set here.
	AuthParams map[string]string `yaml:"auth_params,omitempty"`

	// Claims maps the ID token's claims to the identity policy sees (the
	// same mapping as auth.issuers[].claims; Entra ID with app roles:
	// groups: roles).
	Claims Claims `yaml:"claims,omitempty"`
}

// ClientIDMetadataDocuments configures Client ID Metadata Document clients.
type ClientIDMetadataDocuments struct {
	// Enabled, if omitted, defaults to true.
	Enabled *bool `yaml:"enabled,omitempty"`

	// AllowPrivateAddresses lets documents be fetched from loopback and
	// private addresses, over http on loopback. Only for tests and local
	// development: it opens the gateway to server-side request forgery.
	// If omitted, defaults to false.
	AllowPrivateAddresses bool `yaml:"allow_private_addresses,omitempty"`
}

// OAuthClient is a client registered in the configuration.
type OAuthClient struct {
	// ClientID is the client's id. Required, unique.
	ClientID string `yaml:"client_id"`
	// ClientName is shown on the consent page.
	ClientName string `yaml:"client_name,omitempty"`
	// RedirectURIs are the exact redirect URIs (http loopback URIs match
	// on any port). At least one.
	RedirectURIs []string `yaml:"redirect_uris"`
	// ClientSecret makes the client confidential (client_secret_basic or
	// client_secret_post). If omitted, the client is public and PKCE is
	// its only proof.
	ClientSecret *Secret `yaml:"client_secret,omitempty"`
}

// DynamicRegistrationEnabled reports the effective dynamic_registration.
func (a *AuthorizationServer) DynamicRegistrationEnabled() bool {
	return a.DynamicRegistration == nil || *a.DynamicRegistration
}

// CIMDEnabled reports the effective client_id_metadata_documents.enabled.
func (a *AuthorizationServer) CIMDEnabled() bool {
	return a.ClientIDMetadataDocuments.Enabled == nil || *a.ClientIDMetadataDocuments.Enabled
}

// EffectiveScopes returns the scopes asked of the IdP.
func (i *IdP) EffectiveScopes() []string {
	if len(i.Scopes) == 0 {
		return DefaultIdPScopes
	}
	return i.Scopes
}

// reservedAuthParams are the authorization request parameters the flow
// sets itself.
var reservedAuthParams = []string{"client_id", "redirect_uri", "state", "nonce", "code_challenge",
	"code_challenge_method", "scope", "response_type", "response_mode", "request", "request_uri"}

// validateAuthParams reports extra authorization request parameters that
// the sign-in flow sets itself.
func validateAuthParams(ps *problems, path string, params map[string]string) {
	for k := range params {
		if slices.Contains(reservedAuthParams, strings.ToLower(k)) {
			ps.add(path+"."+k, "is set by the sign-in flow itself and cannot be configured")
		}
	}
}

func (a *AuthorizationServer) validate(ps *problems) {
	if !a.Enabled {
		return
	}
	const p = "authorization_server"
	checkIssuerURL(ps, p+".idp.issuer", a.IdP.Issuer)
	if a.IdP.ClientID == "" {
		ps.add(p+".idp.client_id", "is required: the client registered for the gateway at the IdP")
	}
	switch {
	case a.IdP.ClientSecret == nil:
		ps.add(p+".idp.client_secret", "is required: set value_from_env or value_from_file")
	case a.IdP.ClientSecret.sources() != 1:
		ps.add(p+".idp.client_secret", "%s", errSecretSources)
	}
	if len(a.IdP.Scopes) > 0 && !slices.Contains(a.IdP.Scopes, "openid") {
		ps.add(p+".idp.scopes", "must include openid: the gateway signs employees in with the IdP's ID token")
	}
	validateAuthParams(ps, p+".idp.auth_params", a.IdP.AuthParams)
	if len(a.SigningKeys) == 0 {
		ps.add(p+".signing_keys", "at least one key is required: PEM private keys from value_from_file (a mounted Secret) or value_from_env")
	}
	for i := range a.SigningKeys {
		if a.SigningKeys[i].sources() != 1 {
			ps.add(p+".signing_keys["+strconv.Itoa(i)+"]", "%s", errSecretSources)
		}
	}
	if a.AccessTokenTTL <= 0 || a.AccessTokenTTL > MaxAccessTokenTTL {
		ps.add(p+".access_token_ttl", "must be between 1s and %s", MaxAccessTokenTTL)
	}
	if a.RefreshTokenTTL <= 0 {
		ps.add(p+".refresh_token_ttl", "must be greater than 0")
	}
	if a.RefreshMaxLifetime < a.RefreshTokenTTL {
		ps.add(p+".refresh_max_lifetime", "must be at least refresh_token_ttl (%s)", a.RefreshTokenTTL)
	}
	if a.ConsentTTL <= 0 {
		ps.add(p+".consent_ttl", "must be greater than 0")
	}
	seen := map[string]int{}
	for i, c := range a.Clients {
		cp := p + ".clients[" + strconv.Itoa(i) + "]"
		switch {
		case c.ClientID == "":
			ps.add(cp+".client_id", "is required")
		case strings.HasPrefix(c.ClientID, "https://") || strings.HasPrefix(c.ClientID, "http://"):
			ps.add(cp+".client_id", "must not be a URL: URL client ids are Client ID Metadata Documents")
		}
		checkUnique(ps, seen, c.ClientID, i, cp+".client_id", "each client is listed once")
		if len(c.RedirectURIs) == 0 {
			ps.add(cp+".redirect_uris", "at least one redirect URI is required")
		}
		for j, r := range c.RedirectURIs {
			if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" {
				ps.add(cp+".redirect_uris["+strconv.Itoa(j)+"]", "%q is not valid: use an absolute URI without fragment", r)
			}
		}
		if c.ClientSecret != nil && c.ClientSecret.sources() != 1 {
			ps.add(cp+".client_secret", "%s", errSecretSources)
		}
	}
}

// checkIssuerURL reports an issuer identifier that is missing or not an
// absolute https URL (http on loopback) without query or fragment.
func checkIssuerURL(ps *problems, path, raw string) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		ps.add(path, "is required: the issuer identifier, e.g. https://login.example.com/realms/corp")
	case err != nil || !u.IsAbs() || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		ps.add(path, "%q is not valid: use an absolute https URL without query or fragment", raw)
	case u.Scheme != "https" && !(u.Scheme == "http" && authrule.IsLoopbackHost(u.Hostname())):
		ps.add(path, "must be https (http only for loopback addresses)")
	}
}

// ProvisionedAuthorizationServer holds the secrets of the
// authorization_server section, read by [Config.Provision].
type ProvisionedAuthorizationServer struct {
	// IdPClientSecret is idp.client_secret.
	IdPClientSecret string
	// SigningKeys are the parsed signing_keys, in order: the first signs.
	SigningKeys []crypto.Signer
	// ClientSecrets holds each clients[] entry's secret, by index; empty
	// for a public client.
	ClientSecrets []string
}

func (a *AuthorizationServer) provision(ps *problems) *ProvisionedAuthorizationServer {
	if !a.Enabled {
		return nil
	}
	const p = "authorization_server"
	out := &ProvisionedAuthorizationServer{ClientSecrets: make([]string, len(a.Clients))}
	if a.IdP.ClientSecret != nil {
		s, err := a.IdP.ClientSecret.Resolve()
		ps.addErr(p+".idp.client_secret", err)
		out.IdPClientSecret = s
	}
	out.SigningKeys = provisionSigningKeys(ps, p+".signing_keys", a.SigningKeys)
	for i, c := range a.Clients {
		if c.ClientSecret != nil {
			s, err := c.ClientSecret.Resolve()
			ps.addErr(p+".clients["+strconv.Itoa(i)+"].client_secret", err)
			out.ClientSecrets[i] = s
		}
	}
	return out
}

// provisionSigningKeys reads and parses PEM signing keys, in order,
// reporting each problem at path[i].
func provisionSigningKeys(ps *problems, path string, keys []Secret) []crypto.Signer {
	var out []crypto.Signer
	for i := range keys {
		kp := path + "[" + strconv.Itoa(i) + "]"
		raw, err := keys[i].Resolve()
		if err != nil {
			ps.addErr(kp, err)
			continue
		}
		key, err := ParseSigningKey([]byte(raw))
		ps.addErr(kp, err)
		if key != nil {
			out = append(out, key)
		}
	}
	return out
}

// ParseSigningKey parses one PEM private key of authorization_server.
// signing_keys: RSA (at least 2048 bits), ECDSA P-256 or Ed25519, in
// PKCS#8, PKCS#1 or SEC 1 form.
func ParseSigningKey(data []byte) (crypto.Signer, error) {
	return parsePrivateKey(data, keyRules{curves: []elliptic.Curve{elliptic.P256()}, ed25519: true, types: "RSA, ECDSA P-256 or Ed25519"})
}

// keyRules are the private keys a key setting accepts: RSA of at least
// 2048 bits always, ECDSA on curves, Ed25519 if ed25519; types says so in
// messages.
type keyRules struct {
	curves  []elliptic.Curve
	ed25519 bool
	types   string
}

// parsePrivateKey parses the PEM private key of data and checks it
// against rules.
func parsePrivateKey(data []byte, rules keyRules) (crypto.Signer, error) {
	key, err := parsePrivateKeyPEM(data)
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too small: use at least 2048", k.N.BitLen())
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if !slices.Contains(rules.curves, k.Curve) {
			names := make([]string, len(rules.curves))
			for i, c := range rules.curves {
				names[i] = c.Params().Name
			}
			return nil, fmt.Errorf("ECDSA curve %s is not supported: use %s", k.Curve.Params().Name, strings.Join(names, " or "))
		}
		return k, nil
	case ed25519.PrivateKey:
		if rules.ed25519 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("key type %T is not supported: use %s", key, rules.types)
}

// parsePrivateKeyPEM parses the one PEM block of data as a private key in
// PKCS#8, PKCS#1 or SEC 1 form.
func parsePrivateKeyPEM(data []byte) (any, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block: expected a private key such as the output of openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256")
	}
	if b, _ := pem.Decode(rest); b != nil {
		return nil, errors.New("more than one PEM block: put each key in its own file")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	return key, nil
}

// validateAdvertisedScopes checks, in authorization-server mode, that the
// scopes the gateway advertises (auth.scopes_supported) and challenges
// (auth.challenge_scopes) are catalogue entries: clients ask for them, and
// a scope outside the catalogue is never granted, so a client asking only
// for it would be refused at every sign-in.
func (c *Config) validateAdvertisedScopes(ps *problems) {
	if !c.AuthorizationServer.Enabled {
		return
	}
	known := make(map[string]bool, len(c.Scopes))
	for _, s := range c.Scopes {
		known[s.Name] = true
	}
	for key, list := range map[string][]string{"auth.scopes_supported": c.Auth.ScopesSupported, "auth.challenge_scopes": c.Auth.ChallengeScopes} {
		for i, s := range list {
			if !known[s] {
				ps.add(key+"["+strconv.Itoa(i)+"]", "%q is not in the scope catalogue (scopes): in authorization-server mode only catalogue scopes are granted; "+
					"add it to scopes or remove it (if omitted, the catalogue is advertised)", s)
			}
		}
	}
}
