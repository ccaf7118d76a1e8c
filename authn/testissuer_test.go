package authn

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testResource is the gateway's canonical /mcp URL in tests.
const testResource = "https://mcp.example.com/mcp"

// rsaPool holds RSA keys generated once per test binary (generation is slow).
var rsaPool = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	return keys
})

// testKey is a signing key published in a test issuer's JWKS.
type testKey struct {
	kid, alg string
	signer   crypto.Signer
}

func (k *testKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"}
}

// testIssuer is a small OIDC provider on 127.0.0.1: discovery and JWKS,
// RSA/EC/Ed25519 keys with kids, rotation, a down switch and fetch counters.
type testIssuer struct {
	t   testing.TB
	srv *httptest.Server
	URL string

	mu   sync.Mutex
	keys map[string]*testKey // active signing key per alg
	rsaN int                 // next rsaPool key for rotation

	down             atomic.Bool // discovery and JWKS answer 503
	jwksDown         atomic.Bool // JWKS only
	jwksFetches      atomic.Int64
	discoveryFetches atomic.Int64
}

func newTestIssuer(t testing.TB) *testIssuer {
	ti := &testIssuer{t: t, keys: map[string]*testKey{}}
	pool := rsaPool()
	ti.keys["RS256"] = &testKey{kid: randomKid(), alg: "RS256", signer: pool[0]}
	ti.keys["PS256"] = &testKey{kid: randomKid(), alg: "PS256", signer: pool[1]}
	ti.rsaN = 2
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ti.keys["ES256"] = &testKey{kid: randomKid(), alg: "ES256", signer: ec}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ti.keys["EdDSA"] = &testKey{kid: randomKid(), alg: "EdDSA", signer: ed}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", ti.serveDiscovery)
	mux.HandleFunc("GET /jwks", ti.serveJWKS)
	ti.srv = httptest.NewServer(mux)
	ti.URL = ti.srv.URL
	t.Cleanup(ti.srv.Close)
	return ti
}

func randomKid() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (ti *testIssuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	ti.discoveryFetches.Add(1)
	if ti.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, map[string]any{
		"issuer":                                ti.URL,
		"jwks_uri":                              ti.URL + "/jwks",
		"authorization_endpoint":                ti.URL + "/authorize",
		"token_endpoint":                        ti.URL + "/token",
		"code_challenge_methods_supported":      []string{"S256"},
		"id_token_signing_alg_values_supported": []string{"RS256", "PS256", "ES256", "EdDSA"},
	})
}

func (ti *testIssuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	ti.jwksFetches.Add(1)
	if ti.down.Load() || ti.jwksDown.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	ti.mu.Lock()
	var set jose.JSONWebKeySet
	for _, k := range ti.keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	ti.mu.Unlock()
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// rotate replaces the RS256 key by a new one with a new kid; the old key
// is no longer published.
func (ti *testIssuer) rotate() *testKey {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	pool := rsaPool()
	k := &testKey{kid: randomKid(), alg: "RS256", signer: pool[ti.rsaN%len(pool)]}
	ti.rsaN++
	ti.keys["RS256"] = k
	return k
}

func (ti *testIssuer) key(alg string) *testKey {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.keys[alg]
}

// signOptions override what sign puts in the header and how it signs.
type signOptions struct {
	alg    string         // default RS256
	kid    *string        // default: the signing key's kid
	header map[string]any // extra or overriding header fields
	secret []byte         // HS* secret
	key    *testKey       // default: the issuer's active key for alg
}

type signOption func(*signOptions)

func withAlg(alg string) signOption { return func(o *signOptions) { o.alg = alg } }
func withKid(kid string) signOption { return func(o *signOptions) { o.kid = &kid } }
func withSecret(alg string, secret []byte) signOption {
	return func(o *signOptions) { o.alg, o.secret = alg, secret }
}

// sign returns a compact JWS of claims.
func (ti *testIssuer) sign(claims map[string]any, opts ...signOption) string {
	ti.t.Helper()
	o := signOptions{alg: "RS256", header: map[string]any{}}
	for _, f := range opts {
		f(&o)
	}
	header := map[string]any{"alg": o.alg, "typ": "at+jwt"}
	key := o.key
	if key == nil && o.secret == nil && o.alg != "none" {
		key = ti.key(o.alg)
		header["kid"] = key.kid
	} else if key != nil {
		header["kid"] = key.kid
	}
	if o.kid != nil {
		header["kid"] = *o.kid
	}
	for k, v := range o.header {
		header[k] = v
	}
	input := b64JSON(ti.t, header) + "." + b64JSON(ti.t, claims)
	sig, err := signBytes(o.alg, key, o.secret, []byte(input))
	if err != nil {
		ti.t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func b64JSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func signBytes(alg string, key *testKey, secret, input []byte) ([]byte, error) {
	digest := sha256.Sum256(input)
	switch alg {
	case "none":
		return nil, nil
	case "HS256":
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		return m.Sum(nil), nil
	case "RS256":
		return rsa.SignPKCS1v15(rand.Reader, key.signer.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "PS256":
		return rsa.SignPSS(rand.Reader, key.signer.(*rsa.PrivateKey), crypto.SHA256, digest[:],
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, key.signer.(*ecdsa.PrivateKey), digest[:])
		if err != nil {
			return nil, err
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out, nil
	case "EdDSA":
		return ed25519.Sign(key.signer.(ed25519.PrivateKey), input), nil
	}
	panic("signBytes: unsupported alg " + alg)
}

// claims returns valid access-token claims for subject at clock's time;
// mods change or delete (nil value) entries.
func (ti *testIssuer) claims(clock *fakeClock, sub string, mods map[string]any) map[string]any {
	now := clock.Now().Unix()
	c := map[string]any{
		"iss": ti.URL, "sub": sub, "aud": testResource,
		"iat": now, "nbf": now, "exp": now + 3600,
		"scope": "mcp:tools notes:read", "azp": "client-1",
	}
	for k, v := range mods {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// fakeClock is a settable clock starting at the real time (go-sdk's
// RequireBearerToken checks expiry against the real clock).
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().Truncate(time.Second).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testEnv is one issuer, a clock, a log and a verifier trusting the issuer.
type testEnv struct {
	iss   *testIssuer
	clock *fakeClock
	logs  *logBuffer
	v     *Verifier
}

// newTestEnv builds a testEnv; mod may change the Config before use.
func newTestEnv(t testing.TB, mod func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{iss: newTestIssuer(t), clock: newFakeClock(), logs: &logBuffer{}}
	cfg := Config{
		Resource: testResource,
		Issuers:  []IssuerConfig{{Issuer: e.iss.URL}},
		Now:      e.clock.Now,
		Logger:   e.logs.logger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	return e
}

// token signs valid claims for sub with mods applied.
func (e *testEnv) token(sub string, mods map[string]any, opts ...signOption) string {
	return e.iss.sign(e.iss.claims(e.clock, sub, mods), opts...)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
