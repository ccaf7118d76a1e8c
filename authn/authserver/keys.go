package authserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// accessTokenType is the JWS typ of the access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// signingKeys are the server's keys: the first signs, all are published.
type signingKeys struct {
	signer jose.Signer
	public []crypto.PublicKey
	algs   []string
	jwks   []byte
}

func newSigningKeys(keys []crypto.Signer) (*signingKeys, error) {
	sk := &signingKeys{}
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
			sk.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k, KeyID: jwk.KeyID}},
				(&jose.SignerOptions{}).WithType(accessTokenType))
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
		}
		set.Keys = append(set.Keys, jwk)
		sk.public = append(sk.public, k.Public())
		if !contains(sk.algs, string(alg)) {
			sk.algs = append(sk.algs, string(alg))
		}
	}
	var err error
	sk.jwks, err = json.Marshal(set)
	return sk, err
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

func (sk *signingKeys) keySet() oidc.KeySet {
	return &oidc.StaticKeySet{PublicKeys: sk.public}
}

func (sk *signingKeys) algorithms() []string { return append([]string{}, sk.algs...) }

// accessClaims are the claims of an access token (RFC 9068 §2.2), with the
// employee's identity as the gateway's verifier maps it by default.
type accessClaims struct {
	jwt.Claims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	Email    string   `json:"email,omitempty"`
	Name     string   `json:"name,omitempty"`
	Groups   []string `json:"groups"`
	AuthTime int64    `json:"auth_time,omitempty"`
	IdP      string   `json:"idp,omitempty"`
}

// mint signs an access token for sub, issued to clientID with scopes.
func (s *Server) mint(sub Subject, clientID string, scopes []string) (string, error) {
	now := s.now()
	c := accessClaims{
		Claims: jwt.Claims{
			Issuer:   s.opts.Issuer,
			Subject:  sub.Sub,
			Audience: jwt.Audience{s.opts.Resource},
			Expiry:   jwt.NewNumericDate(now.Add(s.opts.AccessTokenTTL)),
			IssuedAt: jwt.NewNumericDate(now),
			ID:       randomToken(16),
		},
		ClientID: clientID,
		Scope:    joinScopes(scopes),
		Email:    sub.Email,
		Name:     sub.Name,
		Groups:   sub.Groups,
		IdP:      sub.IdP,
	}
	if c.Groups == nil {
		c.Groups = []string{}
	}
	if !sub.AuthTime.IsZero() {
		c.AuthTime = sub.AuthTime.Unix()
	}
	return jwt.Signed(s.keys.signer).Claims(c).Serialize()
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "public, max-age="+fmt.Sprint(int(5*time.Minute/time.Second)))
	writeRawJSON(w, http.StatusOK, s.keys.jwks)
}
