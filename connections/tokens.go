package connections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"golang.org/x/oauth2"
)

// ErrNotConnected is wrapped by the errors of Token when the employee must
// connect (again) in a browser: no token yet, one refused for good, or
// one without the scopes the request was granted.
var ErrNotConnected = errors.New("not connected")

// NotConnectedError says that the employee must connect to Upstream, with
// at least Scopes (nil: whatever policy grants at connect time).
type NotConnectedError struct {
	Upstream string
	Scopes   []string
	Reason   string
}

func (e *NotConnectedError) Error() string {
	return fmt.Sprintf("connections: server %q: %s: %s", e.Upstream, ErrNotConnected, e.Reason)
}

func (e *NotConnectedError) Unwrap() error { return ErrNotConnected }

// record is an employee's token for one upstream, as sealed in the vault.
type record struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes"`
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	Connected    time.Time `json:"connected"`
	Refreshed    time.Time `json:"refreshed,omitzero"`
}

// vaultExpiry is how long the vault keeps r: until its access token
// expires when it cannot be refreshed, else until revoked.
func (r *record) vaultExpiry() time.Time {
	if r.RefreshToken == "" {
		return r.Expiry
	}
	return time.Time{}
}

func (m *Manager) load(ctx context.Context, id *authn.Identity, upstream string) (*record, bool, error) {
	raw, ok, err := m.opts.Vault.Get(ctx, nsToken, employee(id), upstream)
	if err != nil || !ok {
		return nil, false, err
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil || r.AccessToken == "" {
		return nil, false, fmt.Errorf("connections: server %q: the stored token does not decode", upstream)
	}
	return &r, true, nil
}

func (m *Manager) save(ctx context.Context, id *authn.Identity, upstream string, r *record) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return m.opts.Vault.Put(ctx, nsToken, employee(id), upstream, raw, r.vaultExpiry())
}

// Token returns id's access token for upstream, covering scopes, refreshed
// if it expires within the refresh margin. It returns a
// *NotConnectedError when id must connect in a browser first.
func (m *Manager) Token(ctx context.Context, upstream string, id *authn.Identity, scopes []string) (string, error) {
	u, err := m.upstream(upstream)
	if err != nil {
		return "", err
	}
	if id == nil {
		return "", &NotConnectedError{Upstream: upstream, Reason: "no employee"}
	}
	unlock := m.locks.lock(employee(id) + "\x00" + upstream)
	defer unlock()
	r, ok, err := m.load(ctx, id, upstream)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &NotConnectedError{Upstream: upstream, Scopes: scopes, Reason: "you have not connected this server yet"}
	}
	if missing := without(scopes, r.Scopes); len(missing) > 0 {
		return "", &NotConnectedError{Upstream: upstream, Scopes: union(r.Scopes, scopes),
			Reason: "this request needs scopes you did not grant: " + strings.Join(missing, " ")}
	}
	if r.Expiry.IsZero() || r.Expiry.Sub(m.opts.Now()) > m.opts.RefreshMargin {
		return r.AccessToken, nil
	}
	if r.RefreshToken == "" {
		_ = m.opts.Vault.Delete(ctx, nsToken, employee(id), upstream)
		return "", &NotConnectedError{Upstream: upstream, Scopes: r.Scopes, Reason: "your token expired and cannot be refreshed"}
	}
	if err := m.refresh(ctx, u, id, r); err != nil {
		return "", err
	}
	return r.AccessToken, nil
}

// refresh replaces r's tokens with a refresh token grant, and saves r. A
// refresh token the server refuses (invalid_grant) ends the connection.
func (m *Manager) refresh(ctx context.Context, u *Upstream, id *authn.Identity, r *record) error {
	s, err := m.resolve(ctx, u)
	if err != nil {
		return err
	}
	cfg, err := s.oauth2Config(m.redirectURI(), nil)
	if err != nil {
		return fmt.Errorf("connections: server %q: %w", u.Name, err)
	}
	old := &oauth2.Token{RefreshToken: r.RefreshToken, Expiry: time.Unix(1, 0)}
	tok, err := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, m.hc), old).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			_ = m.opts.Vault.Delete(ctx, nsToken, employee(id), u.Name)
			return &NotConnectedError{Upstream: u.Name, Scopes: r.Scopes, Reason: "the upstream no longer accepts your authorization"}
		}
		return fmt.Errorf("connections: server %q: refreshing the token at %s: %w", u.Name, s.tokenURL, describe(err))
	}
	if err := checkBearer(tok); err != nil {
		return fmt.Errorf("connections: server %q: refresh: %w", u.Name, err)
	}
	r.AccessToken, r.Expiry, r.Refreshed = tok.AccessToken, tok.Expiry, m.opts.Now()
	if tok.RefreshToken != "" {
		r.RefreshToken = tok.RefreshToken
	}
	if granted := grantedScopes(tok); granted != nil {
		r.Scopes = granted
	}
	return m.save(ctx, id, u.Name, r)
}

// Invalidate reports that upstream refused token of id's: the next Token
// refreshes it, or asks id to connect again.
func (m *Manager) Invalidate(ctx context.Context, upstream string, id *authn.Identity, token string) {
	if id == nil || !m.Has(upstream) {
		return
	}
	unlock := m.locks.lock(employee(id) + "\x00" + upstream)
	defer unlock()
	r, ok, err := m.load(ctx, id, upstream)
	if err != nil || !ok || r.AccessToken != token {
		return
	}
	if r.RefreshToken == "" {
		_ = m.opts.Vault.Delete(ctx, nsToken, employee(id), upstream)
		return
	}
	r.Expiry = m.opts.Now()
	_ = m.save(ctx, id, upstream, r)
}

// Connection is an employee's connection to an upstream, as pages and the
// CLI show it: never a token.
type Connection struct {
	Upstream  string    `json:"upstream"`
	Scopes    []string  `json:"scopes"`
	Connected time.Time `json:"connected"`
	Expiry    time.Time `json:"expiry,omitzero"`
	Refreshes bool      `json:"refreshes"`
}

// Connections lists id's connections, in upstream order.
func (m *Manager) Connections(ctx context.Context, id *authn.Identity) ([]Connection, error) {
	var out []Connection
	for _, u := range m.opts.Upstreams {
		r, ok, err := m.load(ctx, id, u.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, Connection{Upstream: u.Name, Scopes: r.Scopes, Connected: r.Connected, Expiry: r.Expiry, Refreshes: r.RefreshToken != ""})
		}
	}
	return out, nil
}

// Revoke ends id's connection to upstream: the token is deleted from the
// vault, and revoked at the authorization server when it offers RFC 7009
// revocation (best effort: the deletion stands either way).
func (m *Manager) Revoke(ctx context.Context, id *authn.Identity, upstream string) error {
	u, err := m.upstream(upstream)
	if err != nil {
		return err
	}
	unlock := m.locks.lock(employee(id) + "\x00" + upstream)
	defer unlock()
	r, ok, err := m.load(ctx, id, upstream)
	if err != nil {
		return err
	}
	if err := m.opts.Vault.Delete(ctx, nsToken, employee(id), upstream); err != nil {
		return err
	}
	if ok {
		m.revokeUpstream(ctx, u, r)
	}
	return nil
}

// checkBearer refuses a token response that is not a bearer token.
func checkBearer(tok *oauth2.Token) error {
	if tok.AccessToken == "" {
		return errors.New("the token response has no access_token")
	}
	if !strings.EqualFold(tok.Type(), "Bearer") {
		return fmt.Errorf("token type %q is not supported: only Bearer", tok.TokenType)
	}
	return nil
}

// grantedScopes returns the scope of a token response, nil when absent
// (RFC 6749 §5.1: then as requested).
func grantedScopes(tok *oauth2.Token) []string {
	s, ok := tok.Extra("scope").(string)
	if !ok {
		return nil
	}
	return strings.Fields(s)
}

// describe words a token endpoint failure without the body oauth2 quotes.
func describe(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return fmt.Errorf("%s (HTTP %d)", re.ErrorCode, re.Response.StatusCode)
		}
		return fmt.Errorf("HTTP %d", re.Response.StatusCode)
	}
	return err
}

// without returns the elements of a not in b.
func without(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// union returns a followed by the elements of b not in a.
func union(a, b []string) []string {
	return append(slices.Clone(a), without(b, a)...)
}
