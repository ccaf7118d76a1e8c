package config

import (
	"crypto"
	"strconv"
	"time"
)

// Bounds of servers[].auth.ttl (kind identity_assertion).
const (
	DefaultAssertionTTL = Duration(60 * time.Second)
	MinAssertionTTL     = Duration(time.Second)
	MaxAssertionTTL     = Duration(5 * time.Minute)
)

// IdentityAssertions holds the keys the gateway signs identity assertions
// with: the short-lived JWTs that tell an upstream of auth kind
// identity_assertion who is calling (docs/upstreams.md).
type IdentityAssertions struct {
	// SigningKeys are PEM private keys (RSA of at least 2048 bits, ECDSA
	// P-256 or Ed25519), typically a mounted Secret, with the same rules
	// as authorization_server.signing_keys: the first signs, every key is
	// published at /.well-known/mcpgate/identity-assertion-jwks.json.
	// Required when a server uses kind identity_assertion.
	SigningKeys []Secret `yaml:"signing_keys,omitempty"`
}

// usesIdentityAssertions reports whether any server is of auth kind
// identity_assertion.
func (c *Config) usesIdentityAssertions() bool {
	for _, s := range c.Servers {
		if s.Auth != nil && s.Auth.Kind == AuthIdentityAssertion {
			return true
		}
	}
	return false
}

func (c *Config) validateIdentityAssertions(ps *problems) {
	const p = "identity_assertions.signing_keys"
	keys := c.IdentityAssertions.SigningKeys
	if len(keys) == 0 && c.usesIdentityAssertions() {
		ps.add(p, "at least one key is required when a server uses auth kind identity_assertion: PEM private keys from value_from_file (a mounted Secret) or value_from_env")
	}
	for i := range keys {
		if keys[i].sources() != 1 {
			ps.add(p+"["+strconv.Itoa(i)+"]", "%s", errSecretSources)
		}
	}
}

func (a *UpstreamAuth) validateIdentityAssertion(ps *problems, path string) {
	if hasControlChars(a.Audience) {
		ps.add(path+".audience", "%s", errControlChars)
	}
	if a.TTL != 0 && (a.TTL < MinAssertionTTL || a.TTL > MaxAssertionTTL) {
		ps.add(path+".ttl", "must be between %s and %s", MinAssertionTTL, MaxAssertionTTL)
	}
}

// AssertionAudience returns the audience of the server's identity
// assertions: auth.audience, or the server's URL when omitted.
func (s *Server) AssertionAudience() string {
	if s.Auth != nil && s.Auth.Audience != "" {
		return s.Auth.Audience
	}
	return s.URL
}

// AssertionTTL returns auth.ttl, or DefaultAssertionTTL when omitted.
func (a *UpstreamAuth) AssertionTTL() time.Duration {
	if a.TTL == 0 {
		return time.Duration(DefaultAssertionTTL)
	}
	return time.Duration(a.TTL)
}

// provisionIdentityAssertions parses the signing keys, in order.
func (c *Config) provisionIdentityAssertions(ps *problems) []crypto.Signer {
	return provisionSigningKeys(ps, "identity_assertions.signing_keys", c.IdentityAssertions.SigningKeys)
}
