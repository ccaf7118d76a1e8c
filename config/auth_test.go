package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const authServers = `
servers:
  - name: notes
    url: https://notes.example/mcp
`

func TestAuthParsed(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, authServers+`
auth:
  issuers:
    - issuer: https://idp.example.com
      audiences: [a, b]
      algorithms: [RS256, EdDSA]
      claims: {groups: realm_access.roles, scopes: scp}
  leeway: 1m
  token_cache_size: 5
`)
	want := Auth{
		Issuers: []Issuer{{Issuer: "https://idp.example.com", Audiences: []string{"a", "b"}, Algorithms: []string{"RS256", "EdDSA"},
			Claims: Claims{Groups: "realm_access.roles", Scopes: "scp"}}},
		Leeway:         Duration(time.Minute),
		TokenCacheSize: 5,
	}
	if diff := cmp.Diff(want, cfg.Auth); diff != "" {
		t.Errorf("auth (-want +got):\n%s", diff)
	}
	if err := cfg.RequireAuth(); err != nil {
		t.Errorf("RequireAuth: %v", err)
	}
}

func TestAuthProblems(t *testing.T) {
	t.Setenv("MCPGATE_TEST_HMAC", "s3cret")
	cases := map[string]struct{ yaml, path, msg string }{
		"missing issuer":   {"auth: {issuers: [{audiences: [x]}]}", "auth.issuers[0].issuer", "is required"},
		"http issuer":      {"auth: {issuers: [{issuer: 'http://idp.example.com'}]}", "auth.issuers[0].issuer", "must be https"},
		"issuer query":     {"auth: {issuers: [{issuer: 'https://idp.example.com?x=1'}]}", "auth.issuers[0].issuer", "not valid"},
		"duplicate issuer": {"auth: {issuers: [{issuer: 'https://a.example'}, {issuer: 'https://a.example'}]}", "auth.issuers[1].issuer", "listed once"},
		"alg none":         {"auth: {issuers: [{issuer: 'https://a.example', algorithms: [none]}]}", "auth.issuers[0].algorithms[0]", `"none" is never accepted`},
		"unknown alg":      {"auth: {issuers: [{issuer: 'https://a.example', algorithms: [RS1]}]}", "auth.issuers[0].algorithms[0]", "not supported"},
		"hmac no secret":   {"auth: {issuers: [{issuer: 'https://a.example', algorithms: [HS256]}]}", "auth.issuers[0].algorithms", "need shared_secret"},
		"secret both":      {"auth: {issuers: [{issuer: 'https://a.example', shared_secret: {value_from_env: MCPGATE_TEST_HMAC, value_from_file: /x}}]}", "auth.issuers[0].shared_secret", "exactly one"},
		"empty audience":   {"auth: {issuers: [{issuer: 'https://a.example', audiences: ['']}]}", "auth.issuers[0].audiences[0]", "must not be empty"},
		"leeway too large": {"auth: {leeway: 1h}", "auth.leeway", "between 0 and 5m"},
		"offline_access":   {"auth: {scopes_supported: [mcp, offline_access]}", "auth", "offline_access must not be published"},
		"bad origin":       {"auth: {allowed_origins: ['https://a.example/path']}", "auth.allowed_origins[0]", "not an origin"},
		// What validates is what the gateway's Origin check accepts.
		"wildcard host":       {"auth: {allowed_origins: ['https://*.example.com']}", "auth.allowed_origins[0]", "no wildcards"},
		"origin path slash":   {"auth: {allowed_origins: ['https://claude.ai/']}", "auth.allowed_origins[0]", "not an origin"},
		"wildcard port":       {"auth: {allowed_origins: ['https://a.example:*']}", "auth.allowed_origins[0]", "only on a loopback host"},
		"http 127.-name host": {"auth: {issuers: [{issuer: 'http://127.evil.example/idp'}]}", "auth.issuers[0].issuer", "must be https"},
		"unknown key":         {"auth: {issuer: x}", "auth.issuer", "unknown key"},
		"cache size type":     {"auth: {token_cache_size: many}", "auth.token_cache_size", "whole number"},
		"traces exporter":     {"telemetry: {traces_exporter: jaeger}", "telemetry.traces_exporter", "not supported"},
		"span identity":       {"telemetry: {span_identity: email}", "telemetry.span_identity", "not supported"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			wantProblem(t, problemsOf(t, authServers+tc.yaml), tc.path, tc.msg)
		})
	}
	// HMAC with a secret from the environment is accepted.
	cfg := mustParse(t, authServers+"auth: {issuers: [{issuer: 'http://127.0.0.1:5556/dex', algorithms: [HS256], shared_secret: {value_from_env: MCPGATE_TEST_HMAC}}]}")
	if v, err := cfg.Auth.Issuers[0].SharedSecret.Resolve(); err != nil || v != "s3cret" {
		t.Errorf("shared secret = %q, %v", v, err)
	}
	if s := cfg.Auth.Issuers[0].SharedSecret.String(); s != "env:MCPGATE_TEST_HMAC" {
		t.Errorf("secret prints as %q", s)
	}
}

func TestRequireAuth(t *testing.T) {
	t.Parallel()
	err := mustParse(t, authServers).RequireAuth()
	ve, ok := err.(*ValidationError)
	if !ok || len(ve.Problems) != 1 || ve.Problems[0].Path != "auth.issuers" {
		t.Errorf("RequireAuth without issuers = %v", err)
	}
}

// A loopback port wildcard, which the Origin check accepts (local web
// clients on any port), validates.
func TestLoopbackOriginWildcard(t *testing.T) {
	cfg := mustParse(t, authServers+"auth: {allowed_origins: ['http://localhost:*', 'http://127.0.0.1:*']}")
	if len(cfg.Auth.AllowedOrigins) != 2 {
		t.Errorf("allowed_origins = %v", cfg.Auth.AllowedOrigins)
	}
}
