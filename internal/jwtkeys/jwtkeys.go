package jwtkeys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// Set is a list of signing keys: the first signs, all are published, each
// under its RFC 7638 thumbprint as kid.
type Set struct {
	signer jose.Signer
	public []crypto.PublicKey
	algs   []string
	jwks   []byte
}

// New builds the set of keys, whose signer writes typ as the JWS "typ".
// Keys are RSA, ECDSA P-256 or Ed25519; one listed twice is an error.
func New(keys []crypto.Signer, typ string) (*Set, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("no signing key")
	}
	s := &Set{}
	var set jose.JSONWebKeySet
	seen := map[string]bool{}
	for i, k := range keys {
		alg, err := algorithmOf(k)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		jwk := jose.JSONWebKey{Key: k.Public(), Algorithm: string(alg), Use: "sig"}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		if seen[jwk.KeyID] {
			return nil, fmt.Errorf("key %d: listed twice", i)
		}
		seen[jwk.KeyID] = true
		if i == 0 {
			s.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k, KeyID: jwk.KeyID}},
				(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
		}
		set.Keys = append(set.Keys, jwk)
		s.public = append(s.public, k.Public())
		if !slices.Contains(s.algs, string(alg)) {
			s.algs = append(s.algs, string(alg))
		}
	}
	var err error
	s.jwks, err = json.Marshal(set)
	return s, err
}

// Algorithm returns the JWS algorithm key signs with: RS256 (RSA), ES256
// (ECDSA P-256), ES384 (ECDSA P-384) or EdDSA (Ed25519).
func Algorithm(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	if k, ok := key.(*ecdsa.PrivateKey); ok && k.Curve == elliptic.P384() {
		return jose.ES384, nil
	}
	return algorithmOf(key)
}

func algorithmOf(k crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return jose.RS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve.Params().Name != "P-256" {
			return "", fmt.Errorf("ECDSA curve %s: use P-256", k.Curve.Params().Name)
		}
		return jose.ES256, nil
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("unsupported key type %T: use RSA, ECDSA P-256 or Ed25519", k)
}

// Signer signs with the first key.
func (s *Set) Signer() jose.Signer { return s.signer }

// Public returns the public keys, in order.
func (s *Set) Public() []crypto.PublicKey { return slices.Clone(s.public) }

// Algorithms returns the JWS algorithms of the keys, without repeats.
func (s *Set) Algorithms() []string { return slices.Clone(s.algs) }

// JWKS returns the JSON Web Key Set of the public keys.
func (s *Set) JWKS() []byte { return s.jwks }
