package authserver

import (
	"crypto"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpgate/mcpgate/internal/jwtkeys"
)

// accessTokenType is the JWS typ of the access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// signingKeys are the server's keys: the first signs, all are published.
type signingKeys struct{ *jwtkeys.Set }

func newSigningKeys(keys []crypto.Signer) (*signingKeys, error) {
	set, err := jwtkeys.New(keys, accessTokenType)
	if err != nil {
		return nil, err
	}
	return &signingKeys{set}, nil
}

func (sk *signingKeys) keySet() oidc.KeySet {
	return &oidc.StaticKeySet{PublicKeys: sk.Public()}
}

func (sk *signingKeys) algorithms() []string { return sk.Algorithms() }

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
	return jwt.Signed(s.keys.Signer()).Claims(c).Serialize()
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "public, max-age="+fmt.Sprint(int(5*time.Minute/time.Second)))
	writeRawJSON(w, http.StatusOK, s.keys.JWKS())
}
