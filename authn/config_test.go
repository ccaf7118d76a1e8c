package authn

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

func TestNewVerifierValidation(t *testing.T) {
	t.Parallel()
	const iss = "https://idp.example.com"
	secret := []byte(strings.Repeat("k", 32))
	tests := map[string]struct {
		cfg  Config
		want []string
	}{
		"no issuers": {Config{Resource: testResource}, []string{"issuers: at least one"}},
		"alg none": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: iss, Algorithms: []string{"none"}}}},
			[]string{`issuers[0].algorithms[0]: "none" is never accepted`}},
		"HS256 without secret": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: iss, Algorithms: []string{"HS256"}}}},
			[]string{"issuers[0].algorithms[0]: HS256 requires shared_secret"}},
		"RS256 with secret": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: iss, SharedSecret: secret, Algorithms: []string{"RS256"}}}},
			[]string{"issuers[0].algorithms[0]: RS256 cannot be used with shared_secret"}},
		"short secret": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: iss, SharedSecret: []byte("short")}}},
			[]string{"issuers[0].shared_secret: 5 bytes is too short"}},
		"secret too short for HS512": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: iss, SharedSecret: secret, Algorithms: []string{"HS512"}}}},
			[]string{"too short for HS512: at least 64"}},
		"unknown alg": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: iss, Algorithms: []string{"XS1"}}}},
			[]string{`issuers[0].algorithms[0]: "XS1" is not supported`}},
		"http issuer off loopback": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: "http://idp.example.com"}}},
			[]string{"issuers[0].issuer:", "must be https"}},
		"issuer not a URL": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: "idp"}}},
			[]string{"issuers[0].issuer:", "absolute http(s) URL"}},
		"no audience at all": {Config{Issuers: []IssuerConfig{{Issuer: iss}}},
			[]string{"issuers[0].audiences: required when resource is empty"}},
		"duplicate issuer": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: iss}, {Issuer: iss}}},
			[]string{"issuers[1].issuer:", "also issuers[0]"}},
		"bad claim path": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: iss, Claims: ClaimMapping{Groups: "realm_access..roles"}}}},
			[]string{"issuers[0].claims.groups:", "empty segment"}},
		"leeway too large": {Config{Resource: testResource, Issuers: []IssuerConfig{{Issuer: iss}}, Leeway: 10 * time.Minute},
			[]string{"leeway: 10m0s is out of range"}},
		"resource with fragment": {Config{Resource: testResource + "#x", Issuers: []IssuerConfig{{Issuer: iss}}},
			[]string{"resource:", "fragment"}},
		"every problem reported": {
			Config{Leeway: -time.Second, CacheSize: -1, Issuers: []IssuerConfig{{Issuer: "ftp://x", Algorithms: []string{"none"}}}},
			[]string{"leeway:", "cache_size:", "issuers[0].issuer:", "issuers[0].audiences:", "issuers[0].algorithms[0]:"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := NewVerifier(tc.cfg)
			if err == nil {
				t.Fatal("NewVerifier accepted an invalid config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestNewVerifierAccepts(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"https issuer":           {Resource: testResource, Issuers: []IssuerConfig{{Issuer: "https://idp.example.com/realms/corp"}}},
		"loopback http issuer":   {Resource: testResource, Issuers: []IssuerConfig{{Issuer: "http://localhost:5556/dex"}}},
		"audiences, no resource": {Issuers: []IssuerConfig{{Issuer: "https://idp.example.com", Audiences: []string{"api://mcpgate"}}}},
		"HMAC issuer":            {Resource: testResource, Issuers: []IssuerConfig{{Issuer: "https://wl.example.com", SharedSecret: make([]byte, 64), Algorithms: []string{"HS256", "HS512"}}}},
		"explicit asymmetric":    {Resource: testResource, Issuers: []IssuerConfig{{Issuer: "https://idp.example.com", Algorithms: []string{"RS512", "ES384"}}}},
		"max leeway":             {Resource: testResource, Issuers: []IssuerConfig{{Issuer: "https://idp.example.com"}}, Leeway: authrule.MaxLeeway},
	} {
		if _, err := NewVerifier(cfg); err != nil {
			t.Errorf("%s: NewVerifier = %v", name, err)
		}
	}
}
