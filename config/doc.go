// Package config owns the YAML configuration model of mcpgate: the raw
// [Config] data as written by the operator, its defaults, strict loading
// with key-path error messages, validation, and the provisioning of the
// runtime values read from the files and environment variables it names.
//
// A configuration goes through three steps, each reporting every problem
// at once as a [*ValidationError] listing "key.path: what is wrong: the
// rule" lines:
//
//   - [Load] reads the configuration file; [Parse] decodes it with
//     unknown-key, duplicate-key and type detection, fills defaults and
//     runs [Config.Validate].
//   - [Config.Validate] checks the document only. It does no I/O: it
//     neither reads files nor looks up environment variables.
//   - [Config.Provision] reads, once each, the files and environment
//     variables the document names: session_key_file, store.vault_key_file,
//     web_sign_in.cookie_key_file, policy.opa_config_file, the issuers' shared secrets and the store's
//     PostgreSQL DSN (store.dsn_from_env or store.dsn_from_file), returned
//     as [Provisioned] for the running gateway, and the upstream header
//     values, only checked there. `mcpgate serve` provisions once before
//     building the gateway, which reads no file itself; `mcpgate validate`
//     provisions too, without starting anything.
//
// Header values from the environment or files are read again at each
// upstream (re)connect ([Header.Resolve], [Server.ResolveHeaders]), so
// rotated secrets are picked up without a restart.
//
// The package keeps configuration as data. It must not open network
// connections, start servers or hold runtime state, and it imports none of
// the runtime's packages: the rules it shares with them (loopback hosts,
// origins, JWS algorithms, verification defaults) live in the
// dependency-free internal/authrule. Secret values are never printed or
// logged by this package.
package config
