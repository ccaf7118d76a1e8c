package config

import (
	"net/url"
	"strconv"
	"strings"
)

// validateOAuth checks the keys of kind oauth: the employee authorizes the
// gateway at the upstream's own authorization server, which is configured
// (authorization_server) or discovered from the upstream's
// protected-resource metadata; the gateway's client there is configured
// (client_id, client_secret) or registered dynamically.
func (a *UpstreamAuth) validateOAuth(ps *problems, path string) {
	if a.AuthorizationServer != "" {
		validateTokenURL(ps, path+".authorization_server", a.AuthorizationServer, a.AllowInsecureHTTP)
	}
	switch {
	case a.ClientID != "" && a.AuthorizationServer == "":
		ps.add(path+".authorization_server", "is required with client_id: the gateway's client and its secret go only to the authorization server the configuration names, never to one the upstream's metadata names")
	case a.ClientID == "" && a.ClientSecret != nil:
		ps.add(path+".client_secret", "needs client_id: a client secret belongs to a configured client (leave both out to register the gateway dynamically)")
	case hasControlChars(a.ClientID):
		ps.add(path+".client_id", "%s", errControlChars)
	}
	if a.ClientSecret != nil && a.ClientSecret.sources() != 1 {
		ps.add(path+".client_secret", "%s", errSecretSources)
	}
	validateUpstreamScopes(ps, path+".scopes", a.Scopes)
	validateResource(ps, path+".resource", a.Resource)
}

// validateResource checks an RFC 8707 resource indicator, if set.
func validateResource(ps *problems, path, raw string) {
	if raw == "" {
		return
	}
	if u, err := url.Parse(raw); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(raw, "#") {
		ps.add(path, "%q is not valid: use an absolute URI without a fragment (RFC 8707)", raw)
	}
}

// validateOAuthNeeds checks what kind oauth needs beyond the server: the
// vault, where employees' tokens are kept, the public URL, under which the
// connect page and the OAuth redirect URI are, and web sign-in, which tells
// the connect page who the employee is.
func (c *Config) validateOAuthNeeds(ps *problems) {
	for i := range c.Servers {
		s := &c.Servers[i]
		if s.Auth == nil || s.Auth.Kind != AuthOAuth {
			continue
		}
		path := "servers[" + strconv.Itoa(i) + "].auth.kind"
		var needs []string
		if c.Store.VaultKeyFile == "" {
			needs = append(needs, "store.vault_key_file (with store.path or store.kind: postgres): each employee's upstream token is kept encrypted in the vault")
		}
		if c.PublicURL == "" {
			needs = append(needs, "public_url: the connect page and the OAuth redirect URI are under it")
		}
		if !c.WebSignIn.Enabled {
			needs = append(needs, "web_sign_in (enabled: true): employees open the connect page in a browser signed in to the gateway")
		}
		if len(needs) > 0 {
			ps.add(path, "oauth needs %s", strings.Join(needs, "; and "))
		}
	}
}
