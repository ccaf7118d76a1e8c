package oidcprovider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestPrivateKeyJWT checks that the server is the strict verifier the
// gateway's tests rely on: an assertion signed with the registered key gets
// a token that introspects active; another key, another audience and a
// replayed assertion are refused.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := Start(t, Client{ID: "gw", Keys: []jose.JSONWebKey{{Key: key.Public()}}, Scopes: []string{"read"}}, 60)
	ctx := context.Background()

	a := assertion(t, key, "gw", s.TokenURL())
	tok, status := token(t, s, a)
	if status != http.StatusOK {
		t.Fatalf("registered key: status %d", status)
	}
	in, err := s.Introspect(ctx, tok)
	if err != nil || !in.Active || in.ClientID != "gw" || in.Scope != "read" {
		t.Errorf("Introspect = %+v, %v; want active for gw with scope read", in, err)
	}
	if in, err := s.Introspect(ctx, tok+"x"); err != nil || in.Active {
		t.Errorf("forged token: Introspect = %+v, %v; want inactive", in, err)
	}
	for name, a := range map[string]string{
		"replayed":       a,
		"other key":      assertion(t, other, "gw", s.TokenURL()),
		"other audience": assertion(t, key, "gw", "https://elsewhere.example/token"),
		"other client":   assertion(t, key, "intruder", s.TokenURL()),
	} {
		if _, status := token(t, s, a); status != http.StatusUnauthorized && status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want refused", name, status)
		}
	}
}

func assertion(t *testing.T, key *ecdsa.PrivateKey, clientID, aud string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	a, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		ID: hex.EncodeToString(id), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func token(t *testing.T, s *Server, assertion string) (string, int) {
	t.Helper()
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {"read"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	resp, err := http.Post(s.TokenURL(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.AccessToken, resp.StatusCode
}
