package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/authserver"
	"github.com/mcpgate/mcpgate/authn/websession"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/connections"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/store"
)

// employeePages are the gateway's pages for employees in a browser: web
// sign-in (web_sign_in) and, for servers of auth kind oauth, the connect
// and connections pages behind it. connect is nil without such a server.
type employeePages struct {
	web     *websession.Manager
	connect *connections.Manager
	// gw is set once the gateway is built: the connect flow asks it for
	// policy's scopes and tells it of completed connections.
	gw *gateway.Gateway
	// webOpts made web; the console's own listener signs in with them, at
	// its own base URL.
	webOpts websession.Options
	// issuer is the issuer of the identities connections are stored
	// under: the MCP tokens' issuer.
	issuer string
}

// withEmployeePages mounts web sign-in and the connections pages on opts's
// routes and gives the gateway the connections. Servers of auth kind oauth
// without web_sign_in, the vault or a store are an error: their employees
// could not connect, and nothing is served open.
func withEmployeePages(ctx context.Context, opts *gateway.Options, cfg *config.Config, prov *config.Provisioned, as *authserver.Server, log *slog.Logger) (*employeePages, error) {
	p := &employeePages{}
	ups := oauthUpstreams(cfg)
	home := "/" // web sign-in's landing page: the connections page, when there is one
	if len(ups) > 0 {
		home = connections.PathConnections
	}
	provider, signIn := cfg.WebSignInProvider()
	if signIn {
		var secret func() (string, error) // nil: a public client
		switch {
		case cfg.AuthorizationServer.Enabled && prov.AuthorizationServer != nil &&
			provider.Issuer == cfg.AuthorizationServer.IdP.Issuer && provider.ClientID == cfg.AuthorizationServer.IdP.ClientID:
			// The authorization server's own client at the IdP, whose
			// secret was provisioned for it.
			idpSecret := prov.AuthorizationServer.IdPClientSecret
			secret = func() (string, error) { return idpSecret, nil }
		case provider.ClientSecret != nil:
			secret = provider.ClientSecret.Resolve
		}
		var err error
		p.webOpts = websession.Options{Issuer: provider.Issuer, ClientID: provider.ClientID,
			ClientSecret: secret, Scopes: provider.Scopes, AuthParams: provider.AuthParams, BaseURL: cfg.PublicURL,
			Keys: prov.WebCookieKeys, TTL: cfg.WebSignIn.TTL.Std(), Claims: claimMapping(provider.Claims), Logger: log,
			Home: home}
		if p.web, err = websession.New(ctx, p.webOpts); err != nil {
			return nil, fmt.Errorf("web_sign_in: %w", err)
		}
		routes(opts)
		for _, path := range p.web.Paths() {
			opts.Routes[path] = p.web.Handler()
		}
	}
	if len(ups) == 0 {
		return p, nil
	}
	first := "servers[" + strconv.Itoa(ups[0].index) + "].auth.kind"
	switch {
	case p.web == nil:
		return nil, fmt.Errorf("%s: oauth needs web_sign_in: employees connect upstreams in a browser signed in to the gateway", first)
	case opts.Store == nil || len(prov.VaultKeys) == 0:
		return nil, fmt.Errorf("%s: oauth needs store.vault_key_file and a store: employees' upstream tokens are kept encrypted there", first)
	}
	vault, err := store.NewVault(opts.Store, prov.VaultKeys)
	if err != nil {
		return nil, fmt.Errorf("store.vault_key_file: %w", err)
	}
	list := make([]connections.Upstream, len(ups))
	for i, u := range ups {
		list[i] = u.Upstream
	}
	// In authorization-server mode the gateway issues the employees' MCP
	// tokens (iss: the gateway, sub: the IdP's subject), while web sign-in
	// goes to that IdP: the same employee, named by the gateway's issuer.
	asIssuer := ""
	if as != nil && cfg.AuthorizationServer.Enabled && provider.Issuer == cfg.AuthorizationServer.IdP.Issuer {
		asIssuer = as.Issuer()
	}
	p.issuer = cmp.Or(asIssuer, provider.Issuer)
	p.connect, err = connections.New(connections.Options{
		Upstreams: list, Vault: vault, Store: opts.Store, BaseURL: cfg.PublicURL, Logger: log,
		Identity: func(r *http.Request) (*authn.Identity, bool) {
			id, ok := websession.FromContext(r.Context())
			if ok && asIssuer != "" {
				c := *id
				c.Issuer = asIssuer
				c.PolicyKey = "" // fingerprints the identity as verified, not this copy
				id = &c
			}
			return id, ok
		},
		Scopes: func(ctx context.Context, upstream string, id *authn.Identity) ([]string, error) {
			if p.gw == nil {
				return nil, errors.New("the gateway is starting")
			}
			return p.gw.ConnectScopes(ctx, upstream, id)
		},
		Connected: func(id *authn.Identity, upstream, elicitation string) {
			if p.gw != nil {
				p.gw.ElicitationComplete(id, upstream, elicitation)
			}
		},
		CSRFToken: p.web.CSRFToken,
		CheckCSRF: p.web.CheckCSRF,
	})
	if err != nil {
		return nil, err
	}
	opts.Connections = p.connect
	pages := p.web.Require(p.connect.Handler())
	for _, path := range p.connect.Paths() {
		opts.Routes[path] = pages
	}
	for _, path := range p.connect.PublicPaths() {
		opts.Routes[path] = p.connect.Handler()
	}
	return p, nil
}

// oauthUpstream is a server of auth kind oauth, at its index in servers.
type oauthUpstream struct {
	connections.Upstream
	index int
}

// oauthUpstreams returns the servers of auth kind oauth as connections
// upstreams.
func oauthUpstreams(cfg *config.Config) []oauthUpstream {
	var out []oauthUpstream
	for i, s := range cfg.Servers {
		if s.Auth == nil || s.Auth.Kind != config.AuthOAuth {
			continue
		}
		u := oauthUpstream{index: i, Upstream: connections.Upstream{Name: s.Name, URL: s.URL,
			AuthorizationServer: s.Auth.AuthorizationServer, ClientID: s.Auth.ClientID, Resource: s.Auth.Resource,
			AllowInsecureHTTP: s.Auth.AllowInsecureHTTP}}
		if sec := s.Auth.ClientSecret; sec != nil {
			u.ClientSecret = sec.Resolve
		}
		out = append(out, u)
	}
	return out
}

// routes makes sure opts has a route map.
func routes(opts *gateway.Options) {
	if opts.Routes == nil {
		opts.Routes = map[string]http.Handler{}
	}
}
