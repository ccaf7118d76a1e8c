package authserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/authn"
)

// Bounds of the conversation with the IdP.
const (
	idpTimeout       = 10 * time.Second
	idpRetryInterval = 10 * time.Second
)

// federation is the gateway as a relying party of the corporate IdP.
type federation struct {
	cfg      IdP
	redirect string
	client   *http.Client
	log      *slog.Logger

	mu      sync.Mutex
	ready   *discovered
	lastTry time.Time
	lastErr error
}

type discovered struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newFederation(cfg IdP, redirect string, log *slog.Logger) *federation {
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: idpTimeout}
	}
	return &federation{cfg: cfg, redirect: redirect, client: client, log: log}
}

// provider discovers the IdP once; a failure is retried at most every
// idpRetryInterval, and sign-in is refused meanwhile.
func (f *federation) provider(ctx context.Context) (*discovered, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ready != nil {
		return f.ready, nil
	}
	if !f.lastTry.IsZero() && time.Since(f.lastTry) < idpRetryInterval {
		return nil, f.lastErr
	}
	f.lastTry = time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), idpTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, f.client), f.cfg.Issuer)
	if err != nil {
		f.lastErr = fmt.Errorf("discover the IdP %s: %w", f.cfg.Issuer, err)
		f.log.Error("authserver: IdP discovery failed; sign-in is refused until it succeeds", "idp", f.cfg.Issuer, "err", err)
		return nil, f.lastErr
	}
	// The provider's verifier accepts the algorithms the IdP's discovery
	// document lists; oidc.NewVerifier alone would accept RS256 only.
	keysCtx := oidc.ClientContext(context.Background(), f.client)
	f.ready = &discovered{
		oauth: oauth2.Config{ClientID: f.cfg.ClientID, ClientSecret: f.cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: f.redirect, Scopes: f.cfg.Scopes},
		verifier: p.VerifierContext(keysCtx, &oidc.Config{ClientID: f.cfg.ClientID}),
	}
	return f.ready, nil
}

// authCodeURL is where the employee's browser goes to sign in.
func (f *federation) authCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	d, err := f.provider(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	for k, v := range f.cfg.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	return d.oauth.AuthCodeURL(state, opts...), nil
}

// errOverage is Entra ID's group overage: the token names a Graph query
// instead of the groups.
var errOverage = errors.New("the ID token has too many groups to list them (Entra ID group overage): " +
	"assign groups to the application or use app roles (claims.groups: roles), see docs/identity-providers.md")

// exchange redeems the IdP's code and verifies the ID token, its nonce
// included, and maps it to the employee.
func (f *federation) exchange(ctx context.Context, code, verifier, nonce string) (Subject, error) {
	d, err := f.provider(ctx)
	if err != nil {
		return Subject{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, idpTimeout)
	defer cancel()
	ctx = oidc.ClientContext(ctx, f.client)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Subject{}, fmt.Errorf("redeem the IdP's code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Subject{}, errors.New("the IdP's token response has no id_token (is openid among the scopes?)")
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return Subject{}, fmt.Errorf("verify the IdP's ID token: %w", err)
	}
	if idt.Nonce != nonce {
		return Subject{}, errors.New("the IdP's ID token carries another nonce: sign-in replayed or mixed up")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Subject{}, err
	}
	if names, ok := claims["_claim_names"].(map[string]any); ok {
		if _, over := names["groups"]; over {
			return Subject{}, errOverage
		}
	}
	id, err := authn.IdentityFromClaims(f.cfg.Claims, claims)
	if err != nil {
		return Subject{}, fmt.Errorf("map the IdP's ID token: %w", err)
	}
	groups := id.Groups
	if groups == nil {
		groups = []string{}
	}
	return Subject{Sub: id.Subject, Email: id.Email, Name: id.Name, Groups: groups, IdP: f.cfg.Issuer,
		AuthTime: authTime(claims, idt.IssuedAt), Claims: claims}, nil
}

func authTime(claims map[string]any, fallback time.Time) time.Time {
	if v, ok := claims["auth_time"].(float64); ok && v > 0 {
		return time.Unix(int64(v), 0)
	}
	return fallback
}
