package config

import (
	"crypto"
	"crypto/elliptic"
	"fmt"
	"net/url"
)

// AuthStylePrivateKeyJWT authenticates the client at the token endpoint
// with a JWT it signs with its private key (servers[].auth.client_key):
// RFC 7523 §2.2 and OpenID Connect Core §9 private_key_jwt.
const AuthStylePrivateKeyJWT = "private_key_jwt"

// ParseClientKey parses the PEM private key of servers[].auth.client_key:
// RSA (at least 2048 bits, signing RS256), ECDSA P-256 (ES256) or P-384
// (ES384), in PKCS#8, PKCS#1 or SEC 1 form. Errors never quote the key.
func ParseClientKey(data []byte) (crypto.Signer, error) {
	return parsePrivateKey(data, keyRules{curves: []elliptic.Curve{elliptic.P256(), elliptic.P384()}, types: "RSA, ECDSA P-256 or P-384"})
}

// ResolveClientKey reads and parses client_key now, so that a rotated file
// or variable takes effect at the next token request. Errors name the
// key's source, never its value.
func (a *UpstreamAuth) ResolveClientKey() (crypto.Signer, error) {
	if a.ClientKey == nil {
		return nil, fmt.Errorf("client_key is not set")
	}
	raw, err := a.ClientKey.Resolve()
	if err != nil {
		return nil, fmt.Errorf("client key (%s): %w", a.ClientKey, err)
	}
	key, err := ParseClientKey([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("client key (%s): %w", a.ClientKey, err)
	}
	return key, nil
}

// ClientAssertionAud returns the "aud" of the client assertions:
// client_assertion_audience, or the token URL when omitted.
func (a *UpstreamAuth) ClientAssertionAud() string {
	if a.ClientAssertionAudience != "" {
		return a.ClientAssertionAudience
	}
	return a.TokenURL
}

// validateClientAuth checks how the client authenticates at the token
// endpoint: a client secret (auth_style basic or post) or a private key
// (auth_style private_key_jwt), never both.
func (a *UpstreamAuth) validateClientAuth(ps *problems, path string) {
	if a.EffectiveAuthStyle() != AuthStylePrivateKeyJWT {
		if a.ClientSecret == nil {
			ps.add(path+".client_secret", "is required: set value_from_env or value_from_file (or use auth_style private_key_jwt with client_key)")
		} else if a.ClientSecret.sources() != 1 {
			ps.add(path+".client_secret", "%s", errSecretSources)
		}
		for _, k := range []struct {
			key string
			set bool
		}{{"client_key", a.ClientKey != nil}, {"client_key_id", a.ClientKeyID != ""}, {"client_assertion_audience", a.ClientAssertionAudience != ""}} {
			if k.set {
				ps.add(path+"."+k.key, "applies only to auth_style %s", AuthStylePrivateKeyJWT)
			}
		}
		return
	}
	if a.ClientSecret != nil {
		ps.add(path+".client_secret", "cannot be set with auth_style %s: the gateway authenticates with client_key; remove one of them", AuthStylePrivateKeyJWT)
	}
	if a.ClientKey == nil {
		ps.add(path+".client_key", "is required with auth_style %s: a PEM private key (RSA, ECDSA P-256 or P-384) from value_from_file (a mounted Secret) or value_from_env", AuthStylePrivateKeyJWT)
	} else if a.ClientKey.sources() != 1 {
		ps.add(path+".client_key", "%s", errSecretSources)
	}
	if hasControlChars(a.ClientKeyID) {
		ps.add(path+".client_key_id", "%s", errControlChars)
	}
	if aud := a.ClientAssertionAudience; aud != "" {
		if u, err := url.Parse(aud); err != nil || !u.IsAbs() || u.Host == "" || hasControlChars(aud) {
			ps.add(path+".client_assertion_audience", "%q is not valid: use the authorization server's issuer or token endpoint URL", aud)
		}
	}
}

// provisionClientKey checks that client_key is readable and a usable key
// now; it is read again at each token request.
func (a *UpstreamAuth) provisionClientKey(ps *problems, path string) {
	if a.ClientKey == nil || a.ClientKey.sources() != 1 {
		return
	}
	raw, err := a.ClientKey.Resolve()
	if err == nil {
		_, err = ParseClientKey([]byte(raw))
	}
	ps.addErr(path+".auth.client_key."+a.ClientKey.sourceKey(), err)
}
