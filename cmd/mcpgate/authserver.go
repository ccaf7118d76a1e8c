package main

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/authserver"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/store"
)

// newAuthServer builds the authorization server of cfg.AuthorizationServer
// with the secrets provisioned for it, the store, and the policy engine
// as the Granter of every scope grant and registration. It returns nil
// when the mode is off.
func newAuthServer(cfg *config.Config, prov *config.Provisioned, st store.Store, engine *policy.Engine, log *slog.Logger, tp trace.TracerProvider) (*authserver.Server, error) {
	as := cfg.AuthorizationServer
	if !as.Enabled {
		return nil, nil
	}
	if st == nil {
		return nil, errors.New("authorization_server: no store (set store.path or store.kind: postgres)")
	}
	if prov.AuthorizationServer == nil {
		return nil, errors.New("authorization_server: secrets not provisioned")
	}
	p := prov.AuthorizationServer
	opts := authserver.Options{
		Issuer:   strings.TrimSuffix(cfg.MCPURL(), mcpPath),
		Resource: cfg.MCPURL(),
		Store:    st,
		Granter:  &policyGranter{engine: engine, catalogue: policyCatalogue(cfg.Scopes)},
		IdP: authserver.IdP{
			Issuer: as.IdP.Issuer, ClientID: as.IdP.ClientID, ClientSecret: p.IdPClientSecret,
			Scopes: as.IdP.EffectiveScopes(), AuthParams: as.IdP.AuthParams, Claims: claimMapping(as.IdP.Claims),
		},
		Keys:                          p.SigningKeys,
		DynamicRegistration:           as.DynamicRegistrationEnabled(),
		MetadataDocuments:             as.CIMDEnabled(),
		MetadataDocumentsAllowPrivate: as.ClientIDMetadataDocuments.AllowPrivateAddresses,
		AccessTokenTTL:                time.Duration(as.AccessTokenTTL),
		RefreshTokenTTL:               time.Duration(as.RefreshTokenTTL),
		RefreshMaxLifetime:            time.Duration(as.RefreshMaxLifetime),
		ConsentTTL:                    time.Duration(as.ConsentTTL),
		Logger:                        log,
		TracerProvider:                tp,
	}
	for _, s := range cfg.Scopes {
		opts.Scopes = append(opts.Scopes, authserver.Scope{Name: s.Name, Description: s.Description})
	}
	for i, c := range as.Clients {
		opts.Clients = append(opts.Clients, authserver.StaticClient{ID: c.ClientID, Name: c.ClientName,
			RedirectURIs: c.RedirectURIs, Secret: p.ClientSecrets[i]})
	}
	srv, err := authserver.New(opts)
	if err != nil {
		return nil, err
	}
	if as.ClientIDMetadataDocuments.AllowPrivateAddresses {
		log.Warn("authorization_server.client_id_metadata_documents.allow_private_addresses is on: client metadata documents may be fetched from private and loopback addresses (tests and development only)")
	}
	return srv, nil
}

// claimMapping is the verifier's form of a claims section.
func claimMapping(c config.Claims) authn.ClaimMapping {
	return authn.ClaimMapping{Subject: c.Subject, Email: c.Email, Name: c.Name,
		Groups: c.Groups, ClientID: c.ClientID, Scopes: c.Scopes}
}

// policyCatalogue is the scope catalogue as policy input.
func policyCatalogue(scopes []config.Scope) []policy.Scope {
	out := make([]policy.Scope, len(scopes))
	for i, s := range scopes {
		out[i] = policy.Scope{Name: s.Name, Description: s.Description, Server: s.Server, Level: s.EffectiveLevel()}
	}
	return out
}

// policyGranter is the authorization server's Granter: the policy
// engine's data.mcpgate.authz.grant for grants, its decision in phase
// register for registrations. Every decision is logged by the engine.
type policyGranter struct {
	engine    *policy.Engine
	catalogue []policy.Scope
}

func (g *policyGranter) Grant(ctx context.Context, req *authserver.GrantRequest) ([]string, []string, error) {
	sub := req.Subject
	claims := map[string]any{"sub": sub.Sub, "idp": sub.IdP}
	if sub.Email != "" {
		claims["email"] = sub.Email
	}
	in := &policy.Input{
		Phase:  policy.PhaseGrant,
		Method: req.Endpoint,
		User: policy.User{Sub: sub.Sub, Iss: sub.IdP, Email: sub.Email, Name: sub.Name,
			Groups: nonNil(sub.Groups), Claims: claims},
		Client:    &policy.Client{ID: req.ClientID, Name: req.ClientName},
		Catalogue: g.catalogue,
		Grant:     &policy.Grant{Requested: nonNil(req.Requested), Current: req.Current, Reason: req.Reason},
		Request:   policy.Request{RemoteAddr: req.RemoteAddr, Time: time.Now().UTC()},
	}
	d := g.engine.Grant(ctx, in)
	return d.Scopes, d.Reasons, d.Err
}

func (g *policyGranter) Register(ctx context.Context, req *authserver.RegistrationRequest) (bool, []string, error) {
	md := req.Metadata
	in := &policy.Input{
		Phase:  policy.PhaseRegister,
		Method: policy.MethodRegister,
		Client: &policy.Client{ID: md.ClientID, Name: md.ClientName},
		Registration: &policy.Registration{
			Method: req.Method, ClientID: md.ClientID, ClientName: md.ClientName, ClientURI: md.ClientURI,
			RedirectURIs: nonNil(md.RedirectURIs), RedirectHosts: redirectHosts(md.RedirectURIs),
			GrantTypes: nonNil(md.GrantTypes), TokenEndpointAuthMethod: md.TokenEndpointAuthMethod,
			Scope: md.Scope, SoftwareID: md.SoftwareID, SoftwareVersion: md.SoftwareVersion,
		},
		Request: policy.Request{RemoteAddr: req.RemoteAddr, Time: time.Now().UTC()},
	}
	d := g.engine.Decide(ctx, in)
	return d.Allow, d.Reasons, nil
}

// redirectHosts are the hosts of uris, once each, lower case, no port.
func redirectHosts(uris []string) []string {
	hosts := []string{}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil || pu.Hostname() == "" {
			continue
		}
		h := strings.ToLower(pu.Hostname())
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
