package config

import (
	"errors"
	"slices"
	"strconv"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// Defaults of the auth section: the verifier's own, defined once in
// authrule.
const (
	DefaultLeeway         = Duration(authrule.DefaultLeeway)
	MaxLeeway             = Duration(authrule.MaxLeeway)
	DefaultTokenCacheSize = authrule.DefaultTokenCacheSize
)

// Auth configures sign-in: which OIDC providers may issue access tokens for
// the gateway, and how their claims map to an identity. `mcpgate serve`
// requires at least one issuer; every request to /mcp then carries a bearer
// token from one of them.
type Auth struct {
	// Issuers are the OIDC providers whose access tokens are accepted, for
	// example the employees' IdP and a workload issuer for service
	// accounts.
	Issuers []Issuer `yaml:"issuers,omitempty"`

	// Leeway is the clock skew allowed when checking exp, nbf and iat. At
	// most 5m. If omitted, defaults to 30s.
	Leeway Duration `yaml:"leeway"`

	// ScopesSupported are the scopes published in the protected-resource
	// metadata (RFC 9728). Keep it minimal; offline_access is never
	// published. If omitted, none are published.
	ScopesSupported []string `yaml:"scopes_supported,omitempty"`

	// ChallengeScopes are sent as scope="…" in 401 challenges, so clients
	// ask for them when they sign in. If omitted, no scope is challenged.
	ChallengeScopes []string `yaml:"challenge_scopes,omitempty"`

	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to call /mcp; a request with any other Origin header gets 403.
	// Requests without an Origin header (non-browser clients) are not
	// affected. If omitted, no browser origin is allowed.
	AllowedOrigins []string `yaml:"allowed_origins,omitempty"`

	// TokenCacheSize bounds the number of verified tokens kept, so repeated
	// requests of a session are not verified again. If omitted, defaults
	// to 10000.
	TokenCacheSize int `yaml:"token_cache_size"`
}

// Issuer is one OIDC provider trusted to issue access tokens for the
// gateway.
type Issuer struct {
	// Issuer is the issuer identifier, exactly as in the tokens' iss claim
	// and the provider's discovery document. It is required and must be an
	// https URL (http only for loopback addresses).
	Issuer string `yaml:"issuer"`

	// Audiences are the aud values accepted. If omitted, the gateway's
	// MCP endpoint URL (public_url + "/mcp") is required, as the MCP
	// authorization spec says; some providers (Dex, Entra ID) put a client
	// id there instead, which must then be listed.
	Audiences []string `yaml:"audiences,omitempty"`

	// Algorithms are the accepted JWS algorithms. If omitted, RS256,
	// ES256, PS256 and EdDSA. "none" is never accepted; HS256/384/512
	// only with SharedSecret.
	Algorithms []string `yaml:"algorithms,omitempty"`

	// SharedSecret enables HMAC-signed tokens for this issuer on purpose
	// (for example an internal workload issuer). If omitted, HS* tokens are
	// refused.
	SharedSecret *Secret `yaml:"shared_secret,omitempty"`

	// Claims maps token claims to the identity policy sees.
	Claims Claims `yaml:"claims,omitempty"`
}

// Claims names the claims an identity is read from. A name may be a dotted
// path into nested objects, such as "realm_access.roles" (Keycloak).
type Claims struct {
	// Subject, if omitted, defaults to "sub".
	Subject string `yaml:"subject,omitempty"`
	// Email, if omitted, defaults to "email".
	Email string `yaml:"email,omitempty"`
	// Name, if omitted, defaults to "name".
	Name string `yaml:"name,omitempty"`
	// Groups, if omitted, defaults to "groups"; Entra ID uses "roles" or
	// "groups", Keycloak "realm_access.roles".
	Groups string `yaml:"groups,omitempty"`
	// ClientID, if omitted, is read from "azp", then "client_id".
	ClientID string `yaml:"client_id,omitempty"`
	// Scopes, if omitted, is read from "scope" (space-separated), then
	// "scp" (Entra ID, Okta).
	Scopes string `yaml:"scopes,omitempty"`
}

// Secret is a secret value read from an environment variable or a file,
// never written in the configuration itself. It is read once, when the
// configuration is provisioned ([Config.Provision]).
type Secret struct {
	// ValueFromEnv names an environment variable holding the secret.
	ValueFromEnv string `yaml:"value_from_env,omitempty"`
	// ValueFromFile is the path of a file holding the secret.
	ValueFromFile string `yaml:"value_from_file,omitempty"`
}

// Resolve reads the secret now.
func (s *Secret) Resolve() (string, error) {
	switch {
	case s.sources() != 1:
		return "", errSecretSources
	case s.ValueFromEnv != "":
		return readEnv(s.ValueFromEnv)
	default:
		return readSecretFile(s.ValueFromFile)
	}
}

// sources counts how many of the secret's sources are set.
func (s *Secret) sources() int { return countSet(s.ValueFromEnv, s.ValueFromFile) }

// String never shows the secret.
func (s *Secret) String() string {
	if s.ValueFromEnv != "" {
		return "env:" + s.ValueFromEnv
	}
	return "file:" + s.ValueFromFile
}

var errSecretSources = errors.New("set exactly one of value_from_env, value_from_file")

// RequireAuth reports, as a [*ValidationError], a configuration without any
// issuer: `mcpgate serve` never serves /mcp without sign-in.
func (c *Config) RequireAuth() error {
	if len(c.Auth.Issuers) > 0 || c.AuthorizationServer.Enabled {
		return nil
	}
	return &ValidationError{Problems: []Problem{{Path: "auth.issuers",
		Message: "at least one issuer is required, or authorization_server enabled: mcpgate serves /mcp only to signed-in callers (for a local trial without an IdP, use mcpgate dev)"}}}
}

func (a *Auth) validate(ps *problems) {
	if a.Leeway < 0 || a.Leeway > MaxLeeway {
		ps.add("auth.leeway", "must be between 0 and %s", MaxLeeway)
	}
	if a.TokenCacheSize < 0 {
		ps.add("auth.token_cache_size", "must not be negative")
	}
	if slices.Contains(a.ScopesSupported, "offline_access") || slices.Contains(a.ChallengeScopes, "offline_access") {
		ps.add("auth", "offline_access must not be published or challenged: the gateway never needs refresh tokens")
	}
	for i, o := range a.AllowedOrigins {
		validateOrigin(ps, "auth.allowed_origins["+strconv.Itoa(i)+"]", o)
	}
	seen := map[string]int{}
	for i := range a.Issuers {
		path := "auth.issuers[" + strconv.Itoa(i) + "]"
		a.Issuers[i].validate(ps, path)
		checkUnique(ps, seen, a.Issuers[i].Issuer, i, path+".issuer", "each issuer is listed once")
	}
}

func (is *Issuer) validate(ps *problems, path string) {
	checkIssuerURL(ps, path+".issuer", is.Issuer)
	hmac := false
	for j, alg := range is.Algorithms {
		ap := path + ".algorithms[" + strconv.Itoa(j) + "]"
		if err := authrule.CheckAlgorithm(alg); err != nil {
			ps.add(ap, "%v", err)
		} else if authrule.HMACKeySize(alg) > 0 {
			hmac = true
		}
	}
	if hmac && is.SharedSecret == nil {
		ps.add(path+".algorithms", "HS* algorithms need shared_secret: HMAC tokens are accepted only from an issuer configured for them on purpose")
	}
	if is.SharedSecret != nil && is.SharedSecret.sources() != 1 {
		ps.add(path+".shared_secret", "%s", errSecretSources)
	}
	for j, aud := range is.Audiences {
		if aud == "" {
			ps.add(path+".audiences["+strconv.Itoa(j)+"]", "must not be empty")
		}
	}
}

func validateOrigin(ps *problems, path, origin string) {
	if _, err := authrule.ParseAllowedOrigin(origin); err != nil {
		ps.add(path, "%v (e.g. https://claude.ai)", err)
	}
}
