package config

import (
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools"
)

// iaConfig is a configuration with one server of kind identity_assertion
// (auth given as a YAML flow mapping) and the given top-level lines.
func iaConfig(auth, top string) string {
	return withAuth(auth) + top
}

const iaKeys = "identity_assertions: {signing_keys: [{value_from_env: IA_KEY}]}\n"

func TestIdentityAssertionRules(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ yaml, path, msg string }{
		"no keys":           {iaConfig("{kind: identity_assertion}", ""), "identity_assertions.signing_keys", "at least one key is required when a server uses auth kind identity_assertion"},
		"key two sources":   {iaConfig("{kind: identity_assertion}", "identity_assertions: {signing_keys: [{value_from_env: A, value_from_file: /k}]}\n"), "identity_assertions.signing_keys[0]", "set exactly one of"},
		"ttl too long":      {iaConfig("{kind: identity_assertion, ttl: 10m}", iaKeys), "servers[0].auth.ttl", "must be between 1s and 5m0s"},
		"ttl too short":     {iaConfig("{kind: identity_assertion, ttl: 10ms}", iaKeys), "servers[0].auth.ttl", "must be between 1s and 5m0s"},
		"ttl with headers":  {withAuth("{kind: headers, ttl: 1m, headers: [{name: X-A, value: a}]}"), "servers[0].auth.ttl", "applies only to kind identity_assertion"},
		"cc key with ia":    {iaConfig("{kind: identity_assertion, client_id: gw}", iaKeys), "servers[0].auth.client_id", "applies only to kind client_credentials"},
		"audience controls": {iaConfig("{kind: identity_assertion, audience: \"a\\nb\"}", iaKeys), "servers[0].auth.audience", "control characters"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tc.yaml), tc.path, tc.msg)
		})
	}
}

func TestIdentityAssertionDefaults(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, iaConfig("{kind: identity_assertion}", iaKeys))
	s := cfg.Servers[0]
	if got := s.AssertionAudience(); got != "https://notes.example/mcp" {
		t.Errorf("AssertionAudience() = %q, want the server's URL", got)
	}
	if got := s.Auth.AssertionTTL(); got != time.Minute {
		t.Errorf("AssertionTTL() = %s, want 1m", got)
	}
	cfg = mustParse(t, iaConfig("{kind: identity_assertion, audience: 'https://notes.internal', ttl: 30s}", iaKeys))
	if got, ttl := cfg.Servers[0].AssertionAudience(), cfg.Servers[0].Auth.AssertionTTL(); got != "https://notes.internal" || ttl != 30*time.Second {
		t.Errorf("audience, ttl = %q, %s; want https://notes.internal, 30s", got, ttl)
	}
}

func TestProvisionIdentityAssertionKeys(t *testing.T) {
	t.Parallel()
	k, keyPEM := testtools.SigningKeyPEM(t)
	dir := t.TempDir()
	good := writeTestFile(t, dir, "k.pem", string(keyPEM))
	bad := writeTestFile(t, dir, "bad.pem", "not a key")

	p, err := mustParse(t, iaConfig("{kind: identity_assertion}", "identity_assertions: {signing_keys: [{value_from_file: "+good+"}]}\n")).Provision()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.IdentityAssertionKeys) != 1 || !k.Equal(p.IdentityAssertionKeys[0]) {
		t.Errorf("IdentityAssertionKeys = %v, want the key of %s", p.IdentityAssertionKeys, good)
	}
	wantProblem(t, provisionProblems(t, mustParse(t, iaConfig("{kind: identity_assertion}", "identity_assertions: {signing_keys: [{value_from_file: "+bad+"}]}\n"))),
		"identity_assertions.signing_keys[0]", "no PEM block")
}
