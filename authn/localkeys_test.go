package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestLocalKeySetAndTokenType: an issuer verified with an in-process key set
// (the gateway's own authorization server) needs no discovery, and with
// TokenType set refuses a JWT of another typ signed by the same key.
func TestLocalKeySetAndTokenType(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const iss = "https://gateway.example.com"
	const resource = iss + "/mcp"
	v, err := NewVerifier(Config{Resource: resource, Issuers: []IssuerConfig{{
		Issuer: iss, TokenType: "at+jwt",
		KeySet: &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.Public()}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(typ string) string {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		raw, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: iss, Subject: "alice", Audience: jwt.Audience{resource},
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for _, typ := range []string{"at+jwt", "application/at+JWT"} {
		id, err := v.Verify(t.Context(), sign(typ))
		if err != nil || id.Subject != "alice" {
			t.Errorf("typ %q: Verify = %v, %v; want alice", typ, id, err)
		}
	}
	for _, typ := range []string{"JWT", "", "at+jwt2"} {
		_, err := v.Verify(t.Context(), sign(typ))
		if !errors.Is(err, ErrInvalidToken) || reasonOf(err) != reasonTokenType {
			t.Errorf("typ %q: Verify = %v, want %q", typ, err, reasonTokenType)
		}
	}
}
