package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// provisionProblems provisions cfg and returns the problems of its
// ValidationError.
func provisionProblems(t *testing.T, cfg *Config) []Problem {
	t.Helper()
	p, err := cfg.Provision()
	var verr *ValidationError
	if !errors.As(err, &verr) || p != nil {
		t.Fatalf("Provision() = %v, %v; want a *ValidationError", p, err)
	}
	return verr.Problems
}

// Validation checks the document only: files and variables that do not
// exist are reported by provisioning, with their key paths.
func TestValidateDoesNoIO(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")
	cfg := mustParse(t, "session_key_file: "+missing+`
servers:
  - name: notes
    url: https://notes.example/mcp
    headers:
      - {name: X-A, value_from_env: MCPGATE_TEST_UNSET_9F2C}
      - {name: X-B, value_from_file: `+missing+`}
      - {name: X-C, value_from_file: `+os.TempDir()+`}
auth:
  issuers:
    - {issuer: https://a.example, algorithms: [HS256], shared_secret: {value_from_file: `+missing+`}}
policy:
  opa_config_file: `+missing+`
`)
	ps := provisionProblems(t, cfg)
	wantProblem(t, ps, "session_key_file", `cannot read "`+missing+`": no such file or directory`)
	wantProblem(t, ps, "servers[0].headers[0].value_from_env", "environment variable MCPGATE_TEST_UNSET_9F2C is not set")
	wantProblem(t, ps, "servers[0].headers[1].value_from_file", `cannot read "`+missing+`": no such file or directory`)
	wantProblem(t, ps, "servers[0].headers[2].value_from_file", "not a regular file")
	wantProblem(t, ps, "auth.issuers[0].shared_secret", "no such file or directory")
	wantProblem(t, ps, "policy.opa_config_file", "no such file or directory")
	if len(ps) != 6 {
		t.Errorf("got %d problems, want 6:\n%v", len(ps), &ValidationError{Problems: ps})
	}
	_, err := cfg.Provision()
	if !strings.HasPrefix(err.Error(), "config: provision:\nsession_key_file: ") {
		t.Errorf("error text = %q, want the key path of each problem first", err)
	}
}

func TestProvisionProblems(t *testing.T) {
	t.Setenv("MCPGATE_TEST_EMPTY", "")
	dir := t.TempDir()
	shortKey := writeTestFile(t, dir, "short", "c2hvcnQ=\n")
	tests := map[string]struct{ yaml, path, msg string }{
		"session key too short": {minimal + "session_key_file: " + shortKey + "\n", "session_key_file", "a key must be 32 bytes, this one is 5"},
		"header env empty":      {server("    headers: [{name: X-A, value_from_env: MCPGATE_TEST_EMPTY}]\n"), "servers[0].headers[0].value_from_env", "environment variable MCPGATE_TEST_EMPTY is empty"},
		"store dsn env unset":   {minimal + "store: {kind: postgres, dsn_from_env: NOPE_NOT_SET}\n", "store.dsn_from_env", "NOPE_NOT_SET is not set"},
		"secret env unset":      {minimal + "auth: {issuers: [{issuer: 'https://a.example', algorithms: [HS256], shared_secret: {value_from_env: NOPE_NOT_SET}}]}", "auth.issuers[0].shared_secret", "NOPE_NOT_SET is not set"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			wantProblem(t, provisionProblems(t, mustParse(t, tc.yaml)), tc.path, tc.msg)
		})
	}
}

// Provisioning reads each file once and returns what the running gateway
// needs; header files are only checked, as they are re-read at each
// upstream (re)connect.
func TestProvisionReadsEachFileOnce(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, SessionKeySize)
	secret := strings.Repeat("s", 32)
	keys := writeTestFile(t, dir, "keys", base64.StdEncoding.EncodeToString(key)+"\n")
	opa := writeTestFile(t, dir, "opa.yaml", "bundles: {}\n")
	hmac := writeTestFile(t, dir, "hmac", secret+"\n")
	header := writeTestFile(t, dir, "header", "Bearer t0ken\n")
	dsn := writeTestFile(t, dir, "dsn", "postgres://mcpgate:pw@db.internal/mcpgate\n")
	vaultKey := bytes.Repeat([]byte{8}, SessionKeySize)
	vault := writeTestFile(t, dir, "vault", "# current\n"+base64.StdEncoding.EncodeToString(vaultKey)+"\n")
	t.Setenv("MCPGATE_TEST_HMAC", secret)
	opens := watchOpens(t, dir)
	cfg := mustParse(t, "session_key_file: "+keys+`
servers:
  - name: notes
    url: https://notes.example/mcp
    headers: [{name: Authorization, value_from_file: `+header+`}]
auth:
  issuers:
    - {issuer: https://a.example}
    - {issuer: https://b.example, algorithms: [HS256], shared_secret: {value_from_file: `+hmac+`}}
    - {issuer: https://c.example, algorithms: [HS256], shared_secret: {value_from_env: MCPGATE_TEST_HMAC}}
policy:
  opa_config_file: `+opa+`
store: {kind: postgres, dsn_from_file: `+dsn+`, vault_key_file: `+vault+`}
`)
	if got := opens(); len(got) != 0 {
		t.Errorf("validation opened %v, want nothing", got)
	}
	p, err := cfg.Provision()
	if err != nil {
		t.Fatal(err)
	}
	want := &Provisioned{
		SessionKeys:   [][]byte{key},
		VaultKeys:     [][]byte{vaultKey},
		OPAConfig:     []byte("bundles: {}"),
		SharedSecrets: [][]byte{nil, []byte(secret), []byte(secret)},
		StoreDSN:      "postgres://mcpgate:pw@db.internal/mcpgate",
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("Provision() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"keys": 1, "opa.yaml": 1, "hmac": 1, "header": 1, "dsn": 1, "vault": 1}, opens()); diff != "" {
		t.Errorf("files opened (-want +got):\n%s", diff)
	}
}

// The vault's keys are each used once: not twice in its file, not also
// for sessions. Errors count keys, and never show one.
func TestProvisionVaultKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, k2, k3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	keyFile := func(name string, keys ...[]byte) string { return writeKeyFile(t, dir, name, keys...) }
	sessions := keyFile("sessions", k1)
	missing := filepath.Join(dir, "missing")
	tests := map[string]struct{ vault, msg string }{
		"repeated key":   {keyFile("repeated", k2, k3, k2), "key 3 repeats key 1 (counting keys, not lines)"},
		"a session key":  {keyFile("shared", k2, k1), "key 2 is also a key of session_key_file"},
		"missing file":   {missing, `cannot read "` + missing + `"`},
		"not a key file": {writeTestFile(t, dir, "short", "c2hvcnQ=\n"), "line 1: a key must be 32 bytes, this one is 5"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := mustParse(t, minimal+"session_key_file: "+sessions+"\nstore: {path: /x.db, vault_key_file: "+tc.vault+"}\n")
			ps := provisionProblems(t, cfg)
			wantProblem(t, ps, "store.vault_key_file", tc.msg)
			for _, k := range [][]byte{k1, k2} {
				if err := (&ValidationError{Problems: ps}).Error(); strings.Contains(err, base64.StdEncoding.EncodeToString(k)) {
					t.Errorf("problems show a key: %s", err)
				}
			}
		})
	}
	p, err := mustParse(t, minimal+"session_key_file: "+sessions+"\nstore: {path: /x.db, vault_key_file: "+keyFile("ok", k3, k2)+"}\n").Provision()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{k3, k2}, p.VaultKeys); diff != "" {
		t.Errorf("VaultKeys (-want +got):\n%s", diff)
	}
}

func TestProvisionNothingNamed(t *testing.T) {
	t.Parallel()
	p, err := mustParse(t, minimal).Provision()
	if err != nil || p.SessionKeys != nil || p.VaultKeys != nil || p.OPAConfig != nil || len(p.SharedSecrets) != 0 {
		t.Errorf("Provision() = %+v, %v; want nothing provisioned", p, err)
	}
}

func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKeyFile writes keys, base64 one per line, to dir/name.
func writeKeyFile(t *testing.T, dir, name string, keys ...[]byte) string {
	var lines string
	for _, k := range keys {
		lines += base64.StdEncoding.EncodeToString(k) + "\n"
	}
	return writeTestFile(t, dir, name, lines)
}
