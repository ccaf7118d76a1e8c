package config

import (
	"crypto"
	"fmt"
	"strconv"
)

// Provisioned holds the runtime values built from the files and
// environment variables a configuration names, read once by
// [Config.Provision] when the running gateway is built.
type Provisioned struct {
	// SessionKeys are the keys of session_key_file, the sealing key first;
	// nil without session_key_file.
	SessionKeys [][]byte

	// VaultKeys are the keys of store.vault_key_file, the sealing key
	// first, for store.NewVault; nil without store.vault_key_file.
	VaultKeys [][]byte

	// OPAConfig is the content of policy.opa_config_file; nil without it.
	OPAConfig []byte

	// SharedSecrets holds the shared secret of each auth.issuers entry, by
	// index; nil for an issuer without one.
	SharedSecrets [][]byte

	// StoreDSN is the PostgreSQL connection string of store.dsn_from_env
	// or store.dsn_from_file; empty for another store kind.
	StoreDSN string

	// AuthorizationServer holds the secrets of authorization_server; nil
	// unless it is enabled.
	AuthorizationServer *ProvisionedAuthorizationServer

	// WebCookieKeys seal web sign-in's session cookies, the sealing key
	// first: web_sign_in.cookie_key_file's, or derived from SessionKeys.
	// Nil unless web_sign_in is enabled.
	WebCookieKeys [][]byte

	// IdentityAssertionKeys are the parsed identity_assertions.signing_keys,
	// in order: the first signs. Nil without any.
	IdentityAssertionKeys []crypto.Signer
}

// Provision reads the files and environment variables that c, a validated
// configuration, names, once each: the session, vault and web cookie keys,
// the OPA configuration, the issuers' shared secrets and the PostgreSQL
// connection string of the store, returned as [Provisioned], and the
// upstream header values and client secrets (web sign-in's too) from files
// and the environment, which are only checked here because they are read
// again at each upstream (re)connect, token request or sign-in, so rotated
// secrets are picked up.
//
// Every problem is reported at once, as a [*ValidationError] whose key
// paths name the setting, e.g. "servers[1].headers[0].value_from_file".
func (c *Config) Provision() (*Provisioned, error) {
	var ps problems
	p := &Provisioned{SharedSecrets: make([][]byte, len(c.Auth.Issuers))}
	if c.SessionKeyFile != "" {
		keys, err := readKeyFile(c.SessionKeyFile)
		ps.addErr("session_key_file", err)
		p.SessionKeys = keys
	}
	p.VaultKeys = c.Store.provisionVaultKeys(&ps, p.SessionKeys)
	p.WebCookieKeys = c.provisionWebCookieKeys(&ps, p.SessionKeys, p.VaultKeys)
	if c.WebSignIn.Enabled && c.WebSignIn.ClientSecret != nil {
		_, err := c.WebSignIn.ClientSecret.Resolve()
		ps.addErr("web_sign_in.client_secret", err)
	}
	for i, is := range c.Auth.Issuers {
		if is.SharedSecret != nil {
			secret, err := is.SharedSecret.Resolve()
			ps.addErr("auth.issuers["+strconv.Itoa(i)+"].shared_secret", err)
			p.SharedSecrets[i] = []byte(secret)
		}
	}
	if c.Policy.OPAConfigFile != "" {
		raw, err := readSecretFile(c.Policy.OPAConfigFile)
		ps.addErr("policy.opa_config_file", err)
		p.OPAConfig = []byte(raw)
	}
	if c.Store.Kind == StorePostgres {
		dsn, err := c.Store.dsn().Resolve()
		ps.addErr("store."+c.Store.dsnKey(), err)
		p.StoreDSN = dsn
	}
	p.AuthorizationServer = c.AuthorizationServer.provision(&ps)
	p.IdentityAssertionKeys = c.provisionIdentityAssertions(&ps)
	for i := range c.Servers {
		c.Servers[i].provisionAuth(&ps, "servers["+strconv.Itoa(i)+"]")
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("config: provision:\n%w", &ValidationError{Problems: ps})
	}
	return p, nil
}

// addErr adds err, if not nil, as the problem of path.
func (ps *problems) addErr(path string, err error) {
	if err != nil {
		ps.add(path, "%v", err)
	}
}
