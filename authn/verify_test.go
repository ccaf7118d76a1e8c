package authn

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVerifyAlgorithms(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	for _, alg := range []string{"RS256", "ES256", "PS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			id, err := e.v.Verify(t.Context(), e.token("user-"+alg, nil, withAlg(alg)))
			if err != nil {
				t.Fatal(err)
			}
			want := &Identity{
				Subject: "user-" + alg, Issuer: e.iss.URL, Audience: []string{testResource},
				Scopes: []string{"mcp:tools", "notes:read"}, ClientID: "client-1",
				Expiry: e.clock.Now().Add(time.Hour),
			}
			if diff := cmp.Diff(want, id, cmp.FilterPath(isClaimsField, cmp.Ignore())); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

// isClaimsField matches the fields derived from all the claims (Claims
// and PolicyKey), which the identity tests leave to tests of their own.
func isClaimsField(p cmp.Path) bool {
	last := p.Last().String()
	return last == ".Claims" || last == ".PolicyKey"
}

// PolicyKey is set by Verify, equal for equal content and different when
// anything policy sees differs.
func TestPolicyKey(t *testing.T) {
	t.Parallel()
	a := &Identity{Issuer: "i", Subject: "alice", Groups: []string{"eng"}, Claims: map[string]any{"sub": "alice", "x": 1.0}}
	same := &Identity{Issuer: "i", Subject: "alice", Groups: []string{"eng"}, Claims: map[string]any{"x": 1.0, "sub": "alice"}}
	if policyKey(a) == "" || policyKey(a) != policyKey(same) {
		t.Fatalf("equal identities: %q %q", policyKey(a), policyKey(same))
	}
	for name, other := range map[string]*Identity{
		"subject": {Issuer: "i", Subject: "bob", Groups: []string{"eng"}, Claims: a.Claims},
		"group":   {Issuer: "i", Subject: "alice", Groups: []string{"admin"}, Claims: a.Claims},
		"claim":   {Issuer: "i", Subject: "alice", Groups: []string{"eng"}, Claims: map[string]any{"sub": "alice", "x": 2.0}},
		"issuer":  {Issuer: "j", Subject: "alice", Groups: []string{"eng"}, Claims: a.Claims},
		"scopes":  {Issuer: "i", Subject: "alice", Groups: []string{"eng"}, Scopes: []string{"s"}, Claims: a.Claims},
	} {
		if policyKey(other) == policyKey(a) {
			t.Errorf("a different %s, the same key", name)
		}
	}
	e := newTestEnv(t, nil)
	id, err := e.v.Verify(t.Context(), e.token("user-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	if id.PolicyKey == "" || id.PolicyKey != policyKey(id) {
		t.Errorf("Verify set PolicyKey %q, want %q", id.PolicyKey, policyKey(id))
	}
}

// TestVerifyRefuses covers every way a token must be refused, with the
// reason Verify reports.
func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	now := e.clock.Now().Unix()
	rsaPub := &e.iss.key("RS256").signer.(*rsa.PrivateKey).PublicKey
	pkix, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	valid := e.token("alice", nil)
	tampered := tamper(t, valid, map[string]any{"sub": "admin"})

	tests := map[string]struct {
		token  string
		reason string
	}{
		"empty":                   {"", reasonMalformed},
		"garbage":                 {"not-a-token", reasonMalformed},
		"three garbage segments":  {"abc.def.ghi", reasonMalformed},
		"JWS JSON serialization":  {`{"payload":"e30","signatures":[]}`, reasonMalformed},
		"alg none":                {e.token("alice", nil, withAlg("none")), reasonMalformed},
		"HS256 with RSA PEM":      {e.token("alice", nil, withSecret("HS256", pemKey)), reasonMalformed},
		"HS256 with RSA PKIX DER": {e.token("alice", nil, withSecret("HS256", pkix)), reasonMalformed},
		"HS256 with RSA PKCS1 DER": {e.token("alice", nil,
			withSecret("HS256", x509.MarshalPKCS1PublicKey(rsaPub))), reasonMalformed},
		"unknown issuer":          {e.token("alice", map[string]any{"iss": "https://evil.example.com"}), reasonUnknownIssuer},
		"issuer with slash":       {e.token("alice", map[string]any{"iss": e.iss.URL + "/"}), reasonUnknownIssuer},
		"wrong audience":          {e.token("alice", map[string]any{"aud": "https://other.example.com/mcp"}), reasonAudience},
		"audience list without":   {e.token("alice", map[string]any{"aud": []string{"a", "b"}}), reasonAudience},
		"audience prefix":         {e.token("alice", map[string]any{"aud": testResource + "/x"}), reasonAudience},
		"audience trailing slash": {e.token("alice", map[string]any{"aud": testResource + "/"}), reasonAudience},
		"audience other case":     {e.token("alice", map[string]any{"aud": strings.ToUpper(testResource)}), reasonAudience},
		"audience with fragment":  {e.token("alice", map[string]any{"aud": testResource + "#"}), reasonAudience},
		"no audience":             {e.token("alice", map[string]any{"aud": nil}), reasonAudience},
		"expired":                 {e.token("alice", map[string]any{"exp": now - 3600}), reasonExpired},
		"expired beyond leeway":   {e.token("alice", map[string]any{"exp": now - 31}), reasonExpired},
		"missing exp":             {e.token("alice", map[string]any{"exp": nil}), reasonMissingExp},
		"exp as string":           {e.token("alice", map[string]any{"exp": "99999999999"}), reasonMalformed},
		"nbf in the future":       {e.token("alice", map[string]any{"nbf": now + 3600}), reasonNotYetValid},
		"nbf absurdly far":        {e.token("alice", map[string]any{"nbf": 1e300}), reasonNotYetValid},
		"nbf as string":           {e.token("alice", map[string]any{"nbf": "99999999999"}), reasonMalformed},
		"iat in the future":       {e.token("alice", map[string]any{"iat": now + 3600}), reasonIssuedFuture},
		"missing subject":         {e.token("", nil), reasonSubject},
		"unknown kid":             {e.token("alice", nil, withKid("no-such-kid")), reasonSignature},
		"other alg's key by kid":  {e.token("alice", nil, withAlg("ES256"), withKid(e.iss.key("RS256").kid)), reasonSignature},
		"tampered payload":        {tampered, reasonSignature},
		"signature stripped":      {valid[:strings.LastIndexByte(valid, '.')+1], reasonSignature},
		"too long":                {valid + strings.Repeat("A", maxTokenBytes), reasonMalformed},
		"non-canonical base64":    {flipUnusedBit(t, valid), reasonMalformed},
		"four segments":           {valid + ".AAAA", reasonMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id, err := e.v.Verify(t.Context(), tc.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", id)
			}
			if !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrUnavailable) {
				t.Errorf("Verify error = %v, want ErrInvalidToken only", err)
			}
			if got := reasonOf(err); got != tc.reason {
				t.Errorf("reason = %q, want %q (error: %v)", got, tc.reason, err)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("error echoes the token")
			}
		})
	}
}

// tamper replaces the payload of token by claims merged over the original.
func tamper(t *testing.T, token string, mods map[string]any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	claims := map[string]any{}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := jsonUnmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	for k, v := range mods {
		claims[k] = v
	}
	parts[1] = b64JSON(t, claims)
	return strings.Join(parts, ".")
}

// flipUnusedBit sets an unused trailing bit of the signature segment: the
// same signature bytes, spelled differently.
func flipUnusedBit(t *testing.T, token string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig := token[strings.LastIndexByte(token, '.')+1:]
	if len(sig)%4 != 2 && len(sig)%4 != 3 {
		t.Fatalf("signature length %d has no unused bits", len(sig))
	}
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	flipped := token[:len(token)-1] + string(alphabet[last|1])
	want, _ := base64.RawURLEncoding.DecodeString(sig)
	got, err := base64.RawURLEncoding.DecodeString(flipped[strings.LastIndexByte(flipped, '.')+1:])
	if err != nil || string(got) != string(want) || flipped == token {
		t.Fatalf("flipUnusedBit did not keep the signature bytes")
	}
	return flipped
}

func TestVerifyLeeway(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Leeway = time.Minute })
	now := e.clock.Now().Unix()
	for name, mods := range map[string]map[string]any{
		"expired within leeway":  {"exp": now - 50},
		"nbf within leeway":      {"nbf": now + 50},
		"iat within leeway":      {"iat": now + 50},
		"no nbf, no iat":         {"nbf": nil, "iat": nil},
		"fractional numericdate": {"exp": float64(now) + 600.5},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := e.v.Verify(t.Context(), e.token("alice", mods)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	old := e.token("alice", nil)
	if _, err := e.v.Verify(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	e.iss.rotate()
	fresh := e.token("alice", map[string]any{"jti": "2"})
	// Within RefreshInterval of the last fetch the new kid is not fetched.
	if _, err := e.v.Verify(t.Context(), fresh); reasonOf(err) != reasonSignature {
		t.Fatalf("Verify(new kid) right after a fetch = %v, want refused (refresh rate-limited)", err)
	}
	e.clock.Advance(RefreshInterval)
	if _, err := e.v.Verify(t.Context(), fresh); err != nil {
		t.Fatalf("Verify(new kid) after RefreshInterval = %v, want accepted without restart", err)
	}
	if got := e.iss.jwksFetches.Load(); got != 2 {
		t.Errorf("JWKS fetches = %d, want 2", got)
	}
	// The old key is no longer published: an old token not in the cache is refused.
	if _, err := e.v.VerifyUncached(t.Context(), old); reasonOf(err) != reasonSignature {
		t.Errorf("Verify(retired kid) = %v, want refused", err)
	}
}

// TestVerifyKidFlood: tokens with random kids cost at most one JWKS fetch
// per RefreshInterval.
func TestVerifyKidFlood(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	if _, err := e.v.Verify(t.Context(), e.token("alice", nil, withAlg("EdDSA"))); err != nil {
		t.Fatal(err)
	}
	flood := func() {
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				tok := e.token("mallory", nil, withAlg("EdDSA"), withKid(randomKid()))
				if _, err := e.v.Verify(t.Context(), tok); err == nil {
					t.Error("token with a random kid accepted")
				}
			})
		}
		wg.Wait()
	}
	flood()
	if got := e.iss.jwksFetches.Load(); got != 1 {
		t.Errorf("JWKS fetches after a flood within the interval = %d, want 1", got)
	}
	e.clock.Advance(RefreshInterval)
	flood()
	if got := e.iss.jwksFetches.Load(); got != 2 {
		t.Errorf("JWKS fetches after a second flood one interval later = %d, want 2", got)
	}
}

func TestVerifyDiscoveryDown(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.iss.down.Store(true)
	tok := e.token("alice", nil)
	for range 5 {
		_, err := e.v.Verify(t.Context(), tok)
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Verify with discovery down = %v, want ErrUnavailable", err)
		}
	}
	if got := e.iss.discoveryFetches.Load(); got != 1 {
		t.Errorf("discovery attempts = %d, want 1 (rate-limited)", got)
	}
	if !strings.Contains(e.logs.String(), "OIDC discovery failed") {
		t.Errorf("no discovery failure logged:\n%s", e.logs)
	}
	e.iss.down.Store(false)
	if _, err := e.v.Verify(t.Context(), tok); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Verify before the retry interval = %v, want still ErrUnavailable", err)
	}
	e.clock.Advance(RefreshInterval)
	if _, err := e.v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("Verify after recovery = %v", err)
	}
	if !strings.Contains(e.logs.String(), "OIDC discovery recovered") {
		t.Errorf("no recovery logged:\n%s", e.logs)
	}
}

func TestVerifyJWKSDown(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.iss.jwksDown.Store(true)
	tok := e.token("alice", nil)
	if _, err := e.v.Verify(t.Context(), tok); !errors.Is(err, ErrUnavailable) || reasonOf(err) != reasonKeys {
		t.Fatalf("Verify with JWKS down = %v, want ErrUnavailable (%s)", err, reasonKeys)
	}
	if !strings.Contains(e.logs.String(), "JWKS fetch failed") {
		t.Errorf("no JWKS failure logged:\n%s", e.logs)
	}
	e.iss.jwksDown.Store(false)
	e.clock.Advance(RefreshInterval)
	if _, err := e.v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("Verify after JWKS recovery = %v", err)
	}
	if !strings.Contains(e.logs.String(), "JWKS fetch recovered") {
		t.Errorf("no recovery logged:\n%s", e.logs)
	}
	// Keys already fetched keep working while the JWKS is down again.
	e.iss.jwksDown.Store(true)
	if _, err := e.v.Verify(t.Context(), e.token("bob", nil)); err != nil {
		t.Errorf("Verify(known kid) with JWKS down = %v, want accepted from cached keys", err)
	}
}

func TestVerifyCache(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	tok := e.token("alice", map[string]any{"exp": e.clock.Now().Add(2 * time.Minute).Unix()})
	first, err := e.v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		id, err := e.v.Verify(t.Context(), tok)
		if err != nil || id != first {
			t.Fatalf("cached Verify = %p, %v; want the first identity", id, err)
		}
	}
	if got := e.v.Verifications(); got != 1 {
		t.Errorf("verifications = %d, want 1 (cache hits)", got)
	}
	e.clock.Advance(3 * time.Minute)
	if _, err := e.v.Verify(t.Context(), tok); reasonOf(err) != reasonExpired {
		t.Errorf("Verify after exp = %v, want expired (not served from cache)", err)
	}
	long := e.token("bob", nil) // exp in an hour: cached for MaxCacheTTL only
	e.v.Verify(t.Context(), long)
	e.clock.Advance(MaxCacheTTL)
	before := e.v.Verifications()
	if _, err := e.v.Verify(t.Context(), long); err != nil || e.v.Verifications() != before+1 {
		t.Errorf("Verify after MaxCacheTTL: err %v, verifications %d→%d; want verified again", err, before, e.v.Verifications())
	}
}

func TestVerifyCacheBounded(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.CacheSize = 3 })
	for i := range 10 {
		if _, err := e.v.Verify(t.Context(), e.token("alice", map[string]any{"jti": i}, withAlg("EdDSA"))); err != nil {
			t.Fatal(err)
		}
		if got := e.v.CacheLen(); got > 3 {
			t.Fatalf("cache holds %d entries, max 3", got)
		}
	}
}

// TestVerifyIssuers: an employees' IdP, a second OIDC issuer and an HMAC
// workload issuer side by side; no issuer's keys vouch for another's tokens.
func TestVerifyIssuers(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("s", 32))
	const workload = "https://workload.example.com"
	var other *testIssuer
	e := newTestEnv(t, func(c *Config) {
		other = newTestIssuer(t)
		c.Issuers = append(c.Issuers,
			IssuerConfig{Issuer: other.URL, Audiences: []string{"api://mcpgate"}},
			IssuerConfig{Issuer: workload, SharedSecret: secret})
	})
	hs := func(sec []byte, mods map[string]any) string {
		return e.iss.sign(e.iss.claims(e.clock, "job-7", mergeMaps(map[string]any{"iss": workload}, mods)), withSecret("HS256", sec))
	}
	accept := map[string]struct{ token, issuer string }{
		"employees' IdP":    {e.token("alice", nil), e.iss.URL},
		"second issuer":     {other.sign(other.claims(e.clock, "svc", map[string]any{"aud": "api://mcpgate"})), other.URL},
		"workload HS256":    {hs(secret, nil), workload},
		"ES256 of issuer 2": {other.sign(other.claims(e.clock, "svc", map[string]any{"aud": "api://mcpgate"}), withAlg("ES256")), other.URL},
	}
	for name, tc := range accept {
		id, err := e.v.Verify(t.Context(), tc.token)
		if err != nil || id.Issuer != tc.issuer {
			t.Errorf("%s: Verify = %v, %v; want issuer %s", name, id, err, tc.issuer)
		}
	}
	refuse := map[string]string{
		"issuer 2 claims, issuer 1 key":  e.iss.sign(e.iss.claims(e.clock, "x", map[string]any{"iss": other.URL, "aud": "api://mcpgate"})),
		"issuer 2, default audience":     other.sign(other.claims(e.clock, "svc", nil)),
		"workload, wrong secret":         hs([]byte(strings.Repeat("x", 32)), nil),
		"workload iss, RS256 signature":  e.iss.sign(e.iss.claims(e.clock, "x", map[string]any{"iss": workload})),
		"employees' iss, HS256 (secret)": e.iss.sign(e.iss.claims(e.clock, "x", nil), withSecret("HS256", secret)),
		"workload, expired":              hs(secret, map[string]any{"exp": e.clock.Now().Add(-time.Hour).Unix()}),
	}
	for name, tok := range refuse {
		if id, err := e.v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify = %+v, %v; want ErrInvalidToken", name, id, err)
		}
	}
}

func mergeMaps(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func TestNewVerifierDoesNotContactIdP(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: "http://127.0.0.1:1"}}})
	if err != nil || v == nil {
		t.Fatalf("NewVerifier with an unreachable issuer = %v, want a verifier", err)
	}
}

func TestSessionUserIDIsCollisionFree(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{"https://a", "b c"}, {"https://a b", "c"}, {"https://a", `" "x`}, {`https://a" "`, "x"},
		{"https://a", "b\xff"}, {"https://a", "b\xfe"}, {"https://a", ""}, {"", "https://a"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		id := sessionUserID(p[0], p[1])
		if q, dup := seen[id]; dup {
			t.Errorf("sessionUserID%q = sessionUserID%q = %s", p, q, id)
		}
		seen[id] = p
	}
}
