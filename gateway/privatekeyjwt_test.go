package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/oidcprovider"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// pkjwtClient is the gateway's client id at oidc-provider.
const pkjwtClient = "mcpgate-echo"

// startPrivateKeyJWT starts oidc-provider knowing the gateway's client by
// the public keys of registered, and an upstream that accepts only tokens
// the provider says are active, for that client, with scope echo.read.
func startPrivateKeyJWT(t *testing.T, registered ...jose.JSONWebKey) (*oidcprovider.Server, *verifyingUpstream) {
	t.Helper()
	as := oidcprovider.Start(t, oidcprovider.Client{ID: pkjwtClient, Keys: registered, Scopes: []string{"echo.read", "echo.write"}}, 300)
	up := startCheckingUpstream(t, func(ctx context.Context, token string) bool {
		in, err := as.Introspect(ctx, token)
		return err == nil && in.Active && in.ClientID == pkjwtClient && slices.Contains(strings.Fields(in.Scope), "echo.read")
	})
	return as, up
}

// pkjwtServer is the configuration of an upstream authenticated with
// client credentials from as, the client authenticated by private_key_jwt
// with the key in keyFile.
func pkjwtServer(u *verifyingUpstream, as *oidcprovider.Server, keyFile string) config.Server {
	s := upstreamConfig("echo", u.URL)
	s.Auth = &config.UpstreamAuth{Kind: config.AuthClientCredentials, TokenURL: as.TokenURL(), AllowInsecureHTTP: true,
		ClientID: pkjwtClient, AuthStyle: config.AuthStylePrivateKeyJWT, ClientKey: &config.Secret{ValueFromFile: keyFile},
		Scopes: []config.UpstreamScope{{Name: "echo.read", Level: config.ScopeLevelRead}}}
	return s
}

// newClientKey returns a fresh key of kind (rsa, p256, p384), its public
// JWK (with kid, if not empty) and its PEM written to a new file.
func newClientKey(t *testing.T, kind, kid string) (jose.JSONWebKey, []byte) {
	t.Helper()
	var key crypto.Signer
	var err error
	switch kind {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid}, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeKey(t *testing.T, path string, pemData []byte) {
	t.Helper()
	if err := osWriteFile(path, pemData); err != nil {
		t.Fatal(err)
	}
}

// The gateway authenticates to a real authorization server with
// private_key_jwt, whatever the key type, and the token it gets is the one
// the upstream receives (verified by introspection), in both protocol eras,
// never the employee's.
func TestPrivateKeyJWTReachUpstream(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		kind, kid string
		issuerAud bool
	}{
		"RS256 with kid":        {kind: "rsa", kid: "key-2026"},
		"ES256":                 {kind: "p256"},
		"ES384 audience issuer": {kind: "p384", issuerAud: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			jwk, keyPEM := newClientKey(t, tc.kind, tc.kid)
			// A second registered key under another kid: with a kid, the
			// server must pick the right one.
			other, _ := newClientKey(t, tc.kind, "other")
			as, up := startPrivateKeyJWT(t, other, jwk)
			keyFile := filepath.Join(t.TempDir(), "client.pem")
			writeKey(t, keyFile, keyPEM)
			s := pkjwtServer(up, as, keyFile)
			s.Auth.ClientKeyID = tc.kid
			if tc.issuerAud {
				s.Auth.ClientAssertionAudience = as.Issuer
			}
			gw := startGateway(t, nil, s)
			if st := upstreamState(gw.Gateway, "echo"); st != StateReady {
				t.Fatalf("upstream is %s: %+v", st, gw.Status())
			}
			for _, era := range []string{legacy, modern} {
				callEcho(t, connectWith(t, gw.URL, era, nil, employeeClient()))
			}
			if tokens := up.distinct(); len(tokens) != 1 {
				t.Errorf("upstream saw Authorization %q, want one bearer token reused", tokens)
			}
			noEmployeeToken(t, up.headers())
		})
	}
}

// What the gateway sends the token endpoint: client_id and a client
// assertion of RFC 7523 §2.2 (iss = sub = client id, aud as configured, a
// fresh jti each time, exp at most five minutes after iat, the kid
// configured), never a client secret. The assertion never appears in the
// log, /readyz or a span.
func TestPrivateKeyJWTAssertion(t *testing.T) {
	t.Parallel()
	jwk, keyPEM := newClientKey(t, "p256", "k1")
	as, up := startPrivateKeyJWT(t, jwk)
	tokens := startTokenRequests(t, as.TokenURL())
	keyFile := filepath.Join(t.TempDir(), "client.pem")
	writeKey(t, keyFile, keyPEM)
	s := pkjwtServer(up, as, keyFile)
	s.Auth.TokenURL = tokens.URL
	// The proxy's URL is not the server's: name its issuer.
	s.Auth.ClientAssertionAudience = as.Issuer
	s.Auth.ClientKeyID = "k1"
	logs := &testtools.SyncBuffer{}
	opts, rec, _ := observedOptions(t)
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.ProbeInterval = time.Hour
	gw := startGateway(t, opts, s)
	cs := connect(t, gw.URL, legacy, nil)
	callEcho(t, cs)
	// A refused token makes the gateway ask again: a second assertion.
	up.mu.Lock()
	up.rejectNext = true
	up.mu.Unlock()
	callEcho(t, cs)

	forms := tokens.sent()
	if len(forms) < 2 {
		t.Fatalf("%d token requests, want at least 2", len(forms))
	}
	var observed strings.Builder
	observed.WriteString(logs.String())
	for _, st := range gw.Status().Upstreams {
		observed.WriteString(st.Error)
	}
	for _, sp := range rec.Ended() {
		for _, a := range sp.Attributes() {
			observed.WriteString(a.Value.Emit())
		}
		for _, e := range sp.Events() {
			observed.WriteString(e.Name)
			for _, a := range e.Attributes {
				observed.WriteString(a.Value.Emit())
			}
		}
	}
	jtis := map[string]bool{}
	for i, f := range forms {
		if f.Get("client_id") != pkjwtClient || f.Has("client_secret") ||
			f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			t.Errorf("request %d: client_id %q, client_secret set %v, client_assertion_type %q", i, f.Get("client_id"), f.Has("client_secret"), f.Get("client_assertion_type"))
		}
		a := f.Get("client_assertion")
		c := verifyAssertion(t, a, jwk, "k1")
		if c.Issuer != pkjwtClient || c.Subject != pkjwtClient || !slices.Equal(c.Audience, jwt.Audience{as.Issuer}) {
			t.Errorf("request %d: iss %q sub %q aud %q", i, c.Issuer, c.Subject, c.Audience)
		}
		if c.ID == "" || jtis[c.ID] {
			t.Errorf("request %d: jti %q empty or reused", i, c.ID)
		}
		jtis[c.ID] = true
		if c.IssuedAt == nil || c.Expiry == nil || c.Expiry.Time().Sub(c.IssuedAt.Time()) > 5*time.Minute || !c.Expiry.Time().After(c.IssuedAt.Time()) {
			t.Errorf("request %d: iat %v exp %v: want exp after iat by at most 5m", i, c.IssuedAt, c.Expiry)
		}
		if strings.Contains(observed.String(), a) || strings.Contains(observed.String(), strings.Split(a, ".")[2]) {
			t.Errorf("request %d: the client assertion is in the log, /readyz or a span", i)
		}
	}
}

// verifyAssertion checks a client assertion's signature with jwk and its
// kid header, and returns its claims.
func verifyAssertion(t *testing.T, assertion string, jwk jose.JSONWebKey, kid string) jwt.Claims {
	t.Helper()
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256})
	if err != nil {
		t.Fatalf("client assertion: %v", err)
	}
	if got := tok.Headers[0].KeyID; got != kid {
		t.Errorf("client assertion kid %q, want %q", got, kid)
	}
	var c jwt.Claims
	if err := tok.Claims(jwk.Key, &c); err != nil {
		t.Fatalf("client assertion signature: %v", err)
	}
	return c
}

// A key the authorization server does not know makes the upstream
// unavailable, with an error naming the server, the token URL and the
// server's refusal, never the key or the assertion; the key file rotated
// to the registered key is read at the next attempt, and rotated again to
// an unknown key, the next token request fails: each request signs with
// the key the file holds then.
func TestPrivateKeyJWTWrongKeyThenRotated(t *testing.T) {
	t.Parallel()
	registered, goodPEM := newClientKey(t, "p256", "")
	_, wrongPEM := newClientKey(t, "p256", "")
	_, laterPEM := newClientKey(t, "rsa", "")
	as, up := startPrivateKeyJWT(t, registered)
	keyFile := filepath.Join(t.TempDir(), "client.pem")
	writeKey(t, keyFile, wrongPEM)
	gw, st, logs := startRefusedGateway(t, pkjwtServer(up, as, keyFile))
	if strings.Contains(st.Error+logs.String(), "PRIVATE KEY") || strings.Contains(st.Error+logs.String(), "eyJ") {
		t.Errorf("a key or a JWT is in /readyz or the log:\n%s\n%s", st.Error, logs)
	}
	if len(up.headers()) != 0 {
		t.Errorf("the upstream was called without a token: %q", up.headers())
	}

	writeKey(t, keyFile, goodPEM)
	eventually(t, "the upstream ready after the key's rotation", func() bool {
		return upstreamState(gw.Gateway, "echo") == StateReady
	})
	cs := connect(t, gw.URL, legacy, nil)
	callEcho(t, cs)

	// Rotated to a key the server does not know: the token in hand still
	// works until refused; the next token request signs with the new key
	// and is refused.
	writeKey(t, keyFile, laterPEM)
	refusals := strings.Count(logs.String(), "invalid_client")
	up.mu.Lock()
	up.rejectNext = true
	up.mu.Unlock()
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "echo__echo", Arguments: map[string]any{"text": "hi"}})
	if err == nil && !res.IsError {
		t.Fatalf("call succeeded after the key was rotated to one the server does not know")
	}
	eventually(t, "the server's refusal of the rotated key in the log", func() bool {
		return strings.Count(logs.String(), "invalid_client") > refusals
	})
}

// A client key that turns bad after provisioning (replaced by garbage, a
// weak key, removed) fails the token request with an error naming its
// file, never its content.
func TestClientAssertionKeyErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		content []byte
		want    string
	}{
		"garbage": {[]byte("hunter2-not-a-key"), "no PEM block"},
		"weak":    {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(weak)}), "RSA key of 1024 bits is too small"},
		"removed": {nil, "no such file or directory"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, name+".pem")
			if tc.content != nil {
				writeKey(t, path, tc.content)
			}
			a := &config.UpstreamAuth{ClientID: "gw", TokenURL: "https://login.example/token", AuthStyle: config.AuthStylePrivateKeyJWT,
				ClientKey: &config.Secret{ValueFromFile: path}}
			_, err := signClientAssertion(a, time.Now())
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("signClientAssertion: %v; want an error naming %s and %q", err, path, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the key's content is in the error: %v", err)
			}
		})
	}
}

// Token exchange authenticates the gateway with private_key_jwt as client
// credentials do: oidc-provider authenticates the client assertion, checks
// the subject token is one it issued, and issues the gateway's client a
// token; a forged subject token and a key it does not know are refused.
func TestPrivateKeyJWTTokenExchange(t *testing.T) {
	t.Parallel()
	jwk, keyPEM := newClientKey(t, "p256", "")
	_, wrongPEM := newClientKey(t, "p256", "")
	as := oidcprovider.Start(t, oidcprovider.Client{ID: pkjwtClient, Keys: []jose.JSONWebKey{jwk}, Scopes: []string{"echo.read"}}, 300)
	keyFile := filepath.Join(t.TempDir(), "client.pem")
	writeKey(t, keyFile, keyPEM)
	s := upstreamConfig("echo", "http://127.0.0.1:1/mcp")
	s.Auth = &config.UpstreamAuth{Kind: config.AuthTokenExchange, TokenURL: as.TokenURL(), AllowInsecureHTTP: true,
		ClientID: pkjwtClient, AuthStyle: config.AuthStylePrivateKeyJWT, ClientKey: &config.Secret{ValueFromFile: keyFile},
		Scopes: []config.UpstreamScope{{Name: "echo.read", Level: config.ScopeLevelRead}}}
	x := newTokenExchange(s, http.DefaultTransport, DefaultUpstreamTokenMargin, nil, nil)
	exchange := func(sub, subjectToken string) (string, error) {
		id := &authn.Identity{Subject: sub, Issuer: "https://idp.example"}
		ctx := withSubjectToken(ctxTimeout(t), id, http.Header{"Authorization": {"Bearer " + subjectToken}})
		return x.forEmployee(ctx, id).Token(ctx)
	}

	subject, err := as.SubjectToken(ctxTimeout(t), "echo.read")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := exchange("alice", subject)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if in, err := as.Introspect(ctxTimeout(t), tok); err != nil || !in.Active || in.ClientID != pkjwtClient || in.Scope != "echo.read" {
		t.Errorf("exchanged token: Introspect = %+v, %v; want active for %s with scope echo.read", in, err, pkjwtClient)
	}
	if _, err := exchange("bob", "forged-subject-token"); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("forged subject token: %v, want invalid_grant", err)
	}
	writeKey(t, keyFile, wrongPEM)
	if _, err := exchange("carol", subject); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("unknown key: %v, want invalid_client", err)
	}
}
