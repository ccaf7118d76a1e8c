package devidp

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
)

// idClaims are the claims of an OpenID Connect ID token (OIDC Core §2). It
// carries the user's claims whatever the OIDC scopes granted: a development
// provider has nothing to withhold.
type idClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        string   `json:"aud"`
	AuthorizedParty string   `json:"azp"`
	Expiry          int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time"`
	Nonce           string   `json:"nonce,omitempty"`
	AccessTokenHash string   `json:"at_hash"`
	Email           string   `json:"email"`
	EmailVerified   bool     `json:"email_verified"`
	Name            string   `json:"name"`
	Groups          []string `json:"groups"`
}

// idTokenClaims lists the claims an ID token adds to those of access tokens,
// for claims_supported.
var idTokenClaims = []string{"auth_time", "nonce", "at_hash", "email_verified"}

// wantsIDToken reports whether a code answers with an ID token: when its
// request was granted the "openid" scope.
func wantsIDToken(ac *authCode) bool { return slices.Contains(ac.scopes, scopeOpenID) }

// mintIDToken signs the ID token for the code ac redeemed by clientID,
// issued with accessToken.
func (p *Provider) mintIDToken(ac *authCode, clientID, accessToken string) (string, error) {
	now := p.now()
	return sign(p.idSigner, idClaims{
		Issuer:          p.issuer,
		Subject:         ac.user.Name,
		Audience:        clientID,
		AuthorizedParty: clientID,
		Expiry:          now.Add(p.ttl).Unix(),
		IssuedAt:        now.Unix(),
		AuthTime:        ac.authTime.Unix(),
		Nonce:           ac.nonce,
		AccessTokenHash: accessTokenHash(accessToken),
		Email:           ac.user.Email,
		EmailVerified:   ac.user.Email != "",
		Name:            ac.user.Name,
		Groups:          ac.user.Groups,
	})
}

// accessTokenHash is the at_hash of an RS256 ID token (OIDC Core §3.1.3.6):
// the base64url left half of the access token's SHA-256.
func accessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
