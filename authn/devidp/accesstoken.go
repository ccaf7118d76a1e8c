package devidp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// accessClaims are the claims of an access token (RFC 9068 shape). "aud" is
// always an array, as the gateway's verifier may expect.
type accessClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        []string `json:"aud"`
	AuthorizedParty string   `json:"azp"`
	ClientID        string   `json:"client_id"`
	Expiry          int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	NotBefore       int64    `json:"nbf"`
	ID              string   `json:"jti"`
	Email           string   `json:"email"`
	Name            string   `json:"name"`
	Groups          []string `json:"groups"`
	Scope           string   `json:"scope,omitempty"`
}

// initKeys generates the RSA-2048 signing key, named by its RFC 7638
// thumbprint, and renders the JWKS.
func (p *Provider) initKeys() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate signing key: %w", err)
	}
	pub := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: algRS256, Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return fmt.Errorf("key thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	// One key, two signers: the "typ" header tells an access token (RFC 9068
	// at+jwt) from an ID token, so that neither passes for the other.
	sk := jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: pub.KeyID, Algorithm: algRS256}}
	if p.signer, err = jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("at+jwt")); err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	if p.idSigner, err = jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT")); err != nil {
		return fmt.Errorf("ID token signer: %w", err)
	}
	p.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	return err
}

// Token mints an access token for the named user, as if the user had signed
// in through the client DevClientID, and returns it with its lifetime. It is
// what `mcpgate dev token NAME` prints and what tests use.
func (p *Provider) Token(user string) (string, time.Duration, error) {
	return p.TokenFor(user, nil)
}

// TokenOptions shapes a token minted by [Provider.TokenFor].
type TokenOptions struct {
	// Scopes are the token's scopes, each one the provider supports. If
	// nil, Options.Scopes.
	Scopes []string
	// Audience is the token's "aud". If empty, Options.Audience. Tests name
	// another resource to prove that a resource server refuses a token
	// meant for someone else.
	Audience string
}

// TokenFor is [Provider.Token] with the scopes or the audience changed, for
// tests of a resource server's scope and audience checks.
func (p *Provider) TokenFor(user string, opts *TokenOptions) (string, time.Duration, error) {
	u, ok := p.byName[user]
	if !ok {
		return "", 0, fmt.Errorf("devidp: token for %q: %w", user, ErrUnknownUser)
	}
	scopes, aud := p.scopes, p.audience
	if opts != nil && opts.Scopes != nil {
		scopes = opts.Scopes
	}
	if opts != nil && opts.Audience != "" {
		aud = opts.Audience
	}
	for _, s := range scopes {
		if !slices.Contains(p.supported, s) {
			return "", 0, fmt.Errorf("devidp: token for %q: scope %q: not supported; supported are %s", user, s, strings.Join(p.supported, " "))
		}
	}
	tok, err := p.mint(u, DevClientID, aud, scopes)
	if err != nil {
		return "", 0, fmt.Errorf("devidp: token for %q: %w", user, err)
	}
	return tok, p.ttl, nil
}

// mint signs an access token for u, issued to clientID for the audience
// aud with the given scopes.
func (p *Provider) mint(u User, clientID, aud string, scopes []string) (string, error) {
	now := p.now()
	claims := accessClaims{
		Issuer:          p.issuer,
		Subject:         u.Name,
		Audience:        []string{aud},
		AuthorizedParty: clientID,
		ClientID:        clientID,
		Expiry:          now.Add(p.ttl).Unix(),
		IssuedAt:        now.Unix(),
		NotBefore:       now.Unix(),
		ID:              rand.Text(),
		Email:           u.Email,
		Name:            u.Name,
		Groups:          u.Groups,
		Scope:           strings.Join(scopes, " "),
	}
	return sign(p.signer, claims)
}

// sign signs the JSON encoding of claims and returns the compact JWS.
func sign(signer jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}
