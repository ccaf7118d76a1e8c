package config

import (
	"bytes"
	"slices"
)

// Store kinds.
const (
	// StoreFile is an embedded single file, for one replica.
	StoreFile = "file"
	// StorePostgres is a PostgreSQL database, shared by replicas.
	StorePostgres = "postgres"
)

// DefaultStoreKind is the store kind when store.kind is omitted.
const DefaultStoreKind = StoreFile

// Store says where the state that outlives a request is kept: today the
// session ids ended by DELETE, which every replica must refuse (see
// docs/deployment.md). Sealed sessions (session_key_file) need one.
type Store struct {
	// Kind is "file" (an embedded single file, for one replica) or
	// "postgres" (a PostgreSQL database, for several replicas).
	// If omitted, defaults to "file".
	Kind string `yaml:"kind"`

	// Path is the store file of kind "file", created with mode 0600 if
	// missing; its directory must be writable. One process holds it at a
	// time. If omitted, there is no store.
	Path string `yaml:"path,omitempty"`

	// DSNFromEnv names an environment variable holding the PostgreSQL
	// connection string of kind "postgres" (a URL or key=value string:
	// it holds a password, so it is never written in this file).
	DSNFromEnv string `yaml:"dsn_from_env,omitempty"`

	// DSNFromFile is the path of a file holding that connection string.
	// Exactly one of DSNFromEnv and DSNFromFile is set for kind
	// "postgres". Either is read once, when the configuration is
	// provisioned ([Config.Provision]).
	DSNFromFile string `yaml:"dsn_from_file,omitempty"`

	// VaultKeyFile is the path of a file holding the keys that encrypt the
	// secrets kept in the store, such as employees' tokens for upstream
	// servers (AES-256-GCM): one base64-encoded 32-byte key per line, the
	// first seals, every key opens, so keys rotate (docs/deployment.md);
	// empty lines and lines starting with '#' are ignored. Its keys must
	// differ from each other and from those of session_key_file. It is
	// read once, when the configuration is provisioned ([Config.Provision]).
	// It needs a store (path, or kind postgres).
	VaultKeyFile string `yaml:"vault_key_file,omitempty"`
}

// Configured reports whether the configuration names a store.
func (s *Store) Configured() bool {
	return s.Kind == StorePostgres || s.Path != ""
}

func (s *Store) dsn() *Secret {
	return &Secret{ValueFromEnv: s.DSNFromEnv, ValueFromFile: s.DSNFromFile}
}

func (s *Store) validate(ps *problems) {
	switch s.Kind {
	case StoreFile:
		if s.DSNFromEnv != "" || s.DSNFromFile != "" {
			ps.add("store", "dsn_from_env and dsn_from_file are for kind postgres; kind file uses path")
		}
	case StorePostgres:
		if s.Path != "" {
			ps.add("store.path", "is for kind file; kind postgres uses dsn_from_env or dsn_from_file")
		}
		if s.dsn().sources() != 1 {
			ps.add("store", "kind postgres needs exactly one of dsn_from_env, dsn_from_file")
		}
	default:
		ps.add("store.kind", "%q is not supported: use one of [file postgres]", s.Kind)
	}
	if s.VaultKeyFile != "" && !s.Configured() {
		ps.add("store.vault_key_file", "the vault it encrypts is kept in the store: set store.path (one replica) or store.kind: postgres")
	}
}

// provisionVaultKeys reads vault_key_file, if set, refusing a key given
// twice or also found in sessionKeys: one key, one purpose.
func (s *Store) provisionVaultKeys(ps *problems, sessionKeys [][]byte) [][]byte {
	if s.VaultKeyFile == "" {
		return nil
	}
	keys, err := readKeyFile(s.VaultKeyFile)
	if err != nil {
		ps.addErr("store.vault_key_file", err)
		return nil
	}
	for i, k := range keys {
		if j := slices.IndexFunc(keys[:i], func(o []byte) bool { return bytes.Equal(o, k) }); j >= 0 {
			ps.add("store.vault_key_file", "key %d repeats key %d (counting keys, not lines)", i+1, j+1)
		}
		if slices.ContainsFunc(sessionKeys, func(o []byte) bool { return bytes.Equal(o, k) }) {
			ps.add("store.vault_key_file", "key %d is also a key of session_key_file: give the vault keys of its own", i+1)
		}
	}
	return keys
}

// RequireStore reports, as a [*ValidationError], sealed sessions without a
// store: a session ended by DELETE on one replica could otherwise be taken
// over by another, so `mcpgate serve` refuses to start.
func (c *Config) RequireStore() error {
	if c.Store.Configured() {
		return nil
	}
	if c.AuthorizationServer.Enabled {
		return &ValidationError{Problems: []Problem{{Path: "store",
			Message: "authorization_server keeps registrations, consents, codes and refresh tokens in the store: " +
				"set store.path (one replica) or store.kind: postgres with dsn_from_env or dsn_from_file (several replicas)"}}}
	}
	if c.SessionKeyFile == "" {
		return nil
	}
	return &ValidationError{Problems: []Problem{{Path: "store",
		Message: "session_key_file seals sessions, which needs a store to end them on every replica: " +
			"set store.path (one replica) or store.kind: postgres with dsn_from_env or dsn_from_file (several replicas)"}}}
}

// dsnKey returns the YAML key of the DSN source that is set.
func (s *Store) dsnKey() string {
	if s.DSNFromEnv != "" {
		return "dsn_from_env"
	}
	return "dsn_from_file"
}
