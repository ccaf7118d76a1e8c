package config

import (
	"errors"
	"testing"
)

func TestStoreProblems(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ yaml, path, msg string }{
		"unknown kind":      {"store: {kind: redis}", "store.kind", `"redis" is not supported: use one of [file postgres]`},
		"postgres no dsn":   {"store: {kind: postgres}", "store", "kind postgres needs exactly one of dsn_from_env, dsn_from_file"},
		"postgres two dsns": {"store: {kind: postgres, dsn_from_env: A, dsn_from_file: /b}", "store", "kind postgres needs exactly one of dsn_from_env, dsn_from_file"},
		"postgres path":     {"store: {kind: postgres, dsn_from_env: A, path: /x.db}", "store.path", "is for kind file"},
		"file dsn":          {"store: {path: /x.db, dsn_from_env: A}", "store", "dsn_from_env and dsn_from_file are for kind postgres"},
		"literal dsn":       {"store: {kind: postgres, dsn: 'postgres://u:pw@h/db'}", "store.dsn", "unknown key"},
		"vault no store":    {"store: {vault_key_file: /k}", "store.vault_key_file", "the vault it encrypts is kept in the store: set store.path"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, minimal+tc.yaml+"\n"), tc.path, tc.msg)
		})
	}
}

func TestRequireStore(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		yaml string
		want bool // a problem
	}{
		"no sealing, no store":   {"", false},
		"sealing, no store":      {"session_key_file: /k\n", true},
		"sealing, kind file":     {"session_key_file: /k\nstore: {kind: file}\n", true},
		"sealing, file store":    {"session_key_file: /k\nstore: {path: /var/lib/mcpgate/mcpgate.db}\n", false},
		"sealing, postgres":      {"session_key_file: /k\nstore: {kind: postgres, dsn_from_env: DSN}\n", false},
		"no sealing, file store": {"store: {path: /x.db}\n", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := mustParse(t, minimal+tc.yaml).RequireStore()
			var ve *ValidationError
			if got := errors.As(err, &ve); got != tc.want {
				t.Fatalf("RequireStore() = %v, want a problem: %v", err, tc.want)
			}
			if ve != nil && ve.Problems[0].Path != "store" {
				t.Errorf("problem path %q, want store", ve.Problems[0].Path)
			}
		})
	}
}

// A vault key file with a store, of either kind, is valid.
func TestStoreVaultKeyFile(t *testing.T) {
	t.Parallel()
	for _, yaml := range []string{
		"store: {path: /x.db, vault_key_file: /k}\n",
		"store: {kind: postgres, dsn_from_env: DSN, vault_key_file: /k}\n",
	} {
		if cfg := mustParse(t, minimal+yaml); cfg.Store.VaultKeyFile != "/k" {
			t.Errorf("%s: vault_key_file = %q", yaml, cfg.Store.VaultKeyFile)
		}
	}
}
