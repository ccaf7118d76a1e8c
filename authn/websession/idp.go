package websession

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// idp is the gateway as a relying party of the OIDC provider.
type idp struct {
	opts     *Options
	redirect string
	keysCtx  context.Context

	mu      sync.Mutex
	ready   *provider
	lastTry time.Time
	lastErr error
}

// provider is what discovery gives: the endpoints and the ID token
// verifier (issuer, audience = client id, expiry, the algorithms the
// discovery document lists).
type provider struct {
	endpoint oauth2.Endpoint
	verifier *oidc.IDTokenVerifier
}

func newIDP(ctx context.Context, opts *Options, redirect string) *idp {
	return &idp{opts: opts, redirect: redirect, keysCtx: oidc.ClientContext(context.WithoutCancel(ctx), opts.HTTPClient)}
}

// discover fetches the discovery document once; a failure is retried at
// most every discoveryRetry, and sign-in is refused meanwhile.
func (p *idp) discover(ctx context.Context) (*provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready != nil {
		return p.ready, nil
	}
	now := p.opts.Now()
	if !p.lastTry.IsZero() && now.Sub(p.lastTry) < discoveryRetry {
		return nil, p.lastErr
	}
	p.lastTry = now
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), idpTimeout)
	defer cancel()
	found, err := oidc.NewProvider(oidc.ClientContext(ctx, p.opts.HTTPClient), p.opts.Issuer)
	if err != nil {
		p.lastErr = fmt.Errorf("discover the IdP %s: %w", p.opts.Issuer, err)
		return nil, p.lastErr
	}
	p.ready = &provider{
		endpoint: found.Endpoint(),
		verifier: found.VerifierContext(p.keysCtx, &oidc.Config{ClientID: p.opts.ClientID, Now: p.opts.Now}),
	}
	return p.ready, nil
}

// client is the OAuth client, without its secret.
func (p *idp) client(pv *provider) *oauth2.Config {
	return &oauth2.Config{ClientID: p.opts.ClientID, Endpoint: pv.endpoint, RedirectURL: p.redirect, Scopes: p.opts.Scopes}
}

// config is the OAuth client, its secret read now.
func (p *idp) config(pv *provider) (*oauth2.Config, error) {
	c := p.client(pv)
	if p.opts.ClientSecret != nil {
		s, err := p.opts.ClientSecret()
		if err != nil {
			return nil, fmt.Errorf("read the client secret: %w", err)
		}
		c.ClientSecret = s
	}
	return c, nil
}

// authCodeURL is where the browser goes to sign in.
func (p *idp) authCodeURL(ctx context.Context, fl *flow) (string, error) {
	pv, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(fl.Nonce), oauth2.S256ChallengeOption(fl.Verifier)}
	for k, v := range p.opts.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	return p.client(pv).AuthCodeURL(fl.State, opts...), nil
}

// errIdP marks failures of the conversation with the IdP (502), as
// opposed to a code or token the browser brought that does not hold
// (400).
var errIdP = errors.New("the IdP")

// idToken is a verified ID token: its audience and claims.
type idToken struct {
	audience []string
	claims   map[string]any
}

// redeem exchanges the code with the flow's PKCE verifier and verifies the
// ID token and its nonce.
func (p *idp) redeem(ctx context.Context, code string, fl *flow) (*idToken, error) {
	pv, err := p.discover(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errIdP, err)
	}
	c, err := p.config(pv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errIdP, err)
	}
	ctx, cancel := context.WithTimeout(ctx, idpTimeout)
	defer cancel()
	ctx = oidc.ClientContext(ctx, p.opts.HTTPClient)
	tok, err := c.Exchange(ctx, code, oauth2.VerifierOption(fl.Verifier))
	if err != nil {
		return nil, fmt.Errorf("redeem the code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%w: the token response has no id_token (is openid among the scopes?)", errIdP)
	}
	idt, err := pv.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("verify the ID token: %w", err)
	}
	if idt.Nonce != fl.Nonce {
		return nil, errors.New("the ID token carries another nonce: sign-in replayed or mixed up")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("read the ID token's claims: %w", err)
	}
	if err := checkAuthorizedParty(idt.Audience, claims, p.opts.ClientID); err != nil {
		return nil, err
	}
	return &idToken{audience: idt.Audience, claims: claims}, nil
}

// checkAuthorizedParty applies OpenID Connect Core 3.1.3.7 (4, 5), which
// go-oidc leaves out: an ID token for several audiences must name the
// party it was issued to (azp), and an azp must be this client. A token
// another client obtained with this client in its audience is refused.
func checkAuthorizedParty(audience []string, claims map[string]any, clientID string) error {
	azp, present := claims["azp"]
	switch {
	case present && azp != clientID:
		return fmt.Errorf("the ID token was issued to another client (azp %q)", truncate(fmt.Sprint(azp), 100))
	case !present && len(audience) > 1:
		return errors.New("the ID token has several audiences and no azp")
	}
	return nil
}
