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
	"github.com/mcpgate/mcpgate/store"
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
	// Cause, if set, is why a stored connection cannot be used (a vault
	// row sealed with a key no longer configured, say).
	Cause error
}

func (e *NotConnectedError) Error() string {
	return fmt.Sprintf("connections: server %q: %s: %s", e.Upstream, ErrNotConnected, e.Reason)
}

// Unwrap gives ErrNotConnected and the cause.
func (e *NotConnectedError) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrNotConnected, e.Cause}
	}
	return []error{ErrNotConnected}
}

// record is an employee's token for one upstream, as sealed in the vault.
type record struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes"`
	// Asked are the scopes asked at connect: one asked and not granted is
	// not asked again by every call (the server refused it).
	Asked     []string  `json:"asked,omitempty"`
	Issuer    string    `json:"issuer"`
	ClientID  string    `json:"client_id"`
	Connected time.Time `json:"connected"`
	Refreshed time.Time `json:"refreshed,omitzero"`
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
		return nil, false, fmt.Errorf("connections: server %q: %w", upstream, errUndecodable)
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
	r, err := m.usable(ctx, id, upstream, scopes)
	if err != nil || !m.expiring(r) {
		return tokenOf(r), err
	}
	// Refresh under the row's lock in the store, which every replica and
	// the command line take: one refresh at a time, and none that brings
	// back a connection revoked meanwhile.
	ctx, release, err := m.lockRow(ctx, id, upstream)
	if err != nil {
		return "", err
	}
	defer release()
	if r, err = m.usable(ctx, id, upstream, scopes); err != nil || !m.expiring(r) {
		return tokenOf(r), err // another replica refreshed it, or it is gone
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

func tokenOf(r *record) string {
	if r == nil {
		return ""
	}
	return r.AccessToken
}

func (m *Manager) expiring(r *record) bool {
	return !r.Expiry.IsZero() && r.Expiry.Sub(m.opts.Now()) <= m.opts.RefreshMargin
}

// usable returns id's stored connection to upstream if it covers scopes,
// or the *NotConnectedError that asks id to connect (again).
func (m *Manager) usable(ctx context.Context, id *authn.Identity, upstream string, scopes []string) (*record, error) {
	r, ok, err := m.load(ctx, id, upstream)
	switch {
	case errors.Is(err, store.ErrVaultUnknownKey), errors.Is(err, store.ErrVaultInvalid), errors.Is(err, errUndecodable):
		m.log.Warn("connections: a stored connection cannot be read; the employee is asked to connect again",
			"upstream", upstream, "employee", id.Subject, "err", err)
		return nil, &NotConnectedError{Upstream: upstream, Scopes: scopes, Cause: err,
			Reason: "your stored authorization cannot be read any more"}
	case err != nil:
		return nil, err
	case !ok:
		return nil, &NotConnectedError{Upstream: upstream, Scopes: scopes, Reason: "you have not connected this server yet"}
	}
	missing := without(scopes, r.Scopes)
	if len(missing) == 0 {
		return r, nil
	}
	if refused := intersect(missing, r.Asked); len(refused) > 0 {
		// Asked at connect and not granted: asking again would loop.
		return nil, fmt.Errorf("connections: server %q did not grant %s when you connected: disconnect it at %s and connect again to ask once more",
			upstream, strings.Join(refused, " "), m.pageURL(PathConnections, nil))
	}
	return nil, &NotConnectedError{Upstream: upstream, Scopes: union(r.Scopes, scopes),
		Reason: "this request needs scopes you did not grant: " + strings.Join(missing, " ")}
}

// refresh replaces r's tokens with a refresh token grant, and saves r; the
// caller holds the row's lock. A refresh token goes only to the
// authorization server and client that issued it: when the upstream's
// metadata names another one now, the connection ends instead. A refresh
// token the server refuses (invalid_grant) ends the connection. Scopes
// the server adds beyond those granted are not recorded.
func (m *Manager) refresh(ctx context.Context, u *Upstream, id *authn.Identity, r *record) error {
	s, err := m.resolve(ctx, u)
	if err != nil {
		return err
	}
	if s.issuer != r.Issuer || s.clientID != r.ClientID {
		_ = m.opts.Vault.Delete(ctx, nsToken, employee(id), u.Name)
		m.log.Warn("connections: the upstream's authorization server or client changed since the employee connected; the old refresh token is not sent to the new one",
			"upstream", u.Name, "employee", id.Subject, "was", r.Issuer, "now", s.issuer)
		return &NotConnectedError{Upstream: u.Name, Scopes: r.Scopes, Reason: "the server's authorization server changed"}
	}
	cfg, err := s.oauth2Config(m.redirectURI(u), nil)
	if err != nil {
		return fmt.Errorf("connections: server %q: %w", u.Name, err)
	}
	old := &oauth2.Token{RefreshToken: r.RefreshToken, Expiry: time.Unix(1, 0)}
	tok, err := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, m.client(u)), old).Token()
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
		r.Scopes = intersect(granted, r.Scopes) // never more than granted at connect
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
	ctx, release, err := m.lockRow(ctx, id, upstream)
	if err != nil {
		return
	}
	defer release()
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
	// Unreadable says the stored connection cannot be read any more (a
	// vault key removed): it can only be revoked, or replaced by
	// connecting again.
	Unreadable bool `json:"unreadable,omitempty"`
}

// Connections lists id's connections, in upstream order. A stored
// connection that cannot be read (a vault key removed) is listed without
// scopes, so that it can be seen and revoked.
func (m *Manager) Connections(ctx context.Context, id *authn.Identity) ([]Connection, error) {
	var out []Connection
	for _, u := range m.opts.Upstreams {
		r, ok, err := m.load(ctx, id, u.Name)
		switch {
		case errors.Is(err, store.ErrVaultUnknownKey), errors.Is(err, store.ErrVaultInvalid), errors.Is(err, errUndecodable):
			out = append(out, Connection{Upstream: u.Name, Unreadable: true})
		case err != nil:
			return nil, err
		case ok:
			out = append(out, Connection{Upstream: u.Name, Scopes: r.Scopes, Connected: r.Connected, Expiry: r.Expiry, Refreshes: r.RefreshToken != ""})
		}
	}
	return out, nil
}

// Revoke ends id's connection to upstream, and reports whether there was
// one: the row is deleted from the vault (even one that cannot be read any
// more), and the tokens revoked at the authorization server that issued
// them when it offers RFC 7009 revocation (best effort: the deletion
// stands either way). It waits for a refresh under way on any replica, so
// that none brings the connection back.
func (m *Manager) Revoke(ctx context.Context, id *authn.Identity, upstream string) (bool, error) {
	u, err := m.upstream(upstream)
	if err != nil {
		return false, err
	}
	unlock := m.locks.lock(employee(id) + "\x00" + upstream)
	defer unlock()
	ctx, release, err := m.lockRow(ctx, id, upstream)
	if err != nil {
		return false, err
	}
	defer release()
	r, ok, loadErr := m.load(ctx, id, upstream)
	if err := m.opts.Vault.Delete(ctx, nsToken, employee(id), upstream); err != nil {
		return false, err
	}
	if ok {
		m.revokeUpstream(ctx, u, r)
	}
	return ok || loadErr != nil, nil
}

// Defaults of the row lock.
const (
	rowLockLease = 30 * time.Second      // how long a holder that died blocks others
	rowLockWait  = 15 * time.Second      // how long to wait for a holder
	rowLockPoll  = 20 * time.Millisecond // how often to try again
)

// lockRow takes the lock of id's row for upstream in the store
// (store.Lock: one holder across replicas and the command line, expiring
// if its holder dies). The returned context ends before the lease does:
// work under the lock runs in it. release frees the lock if it is still
// this holder's.
func (m *Manager) lockRow(ctx context.Context, id *authn.Identity, upstream string) (context.Context, func(), error) {
	key := store.VaultStoreKey(employee(id), upstream)
	held, release, err := store.Lock(ctx, m.opts.Store, nsLock, key, rowLockLease, rowLockWait, rowLockPoll, m.opts.Now)
	switch {
	case errors.Is(err, store.ErrLockBusy) || err != nil && ctx.Err() != nil:
		return nil, nil, fmt.Errorf("connections: server %q: the connection is busy (a refresh or revocation under way); try again", upstream)
	case err != nil:
		return nil, nil, fmt.Errorf("connections: server %q: locking the connection: %w", upstream, err)
	}
	return held, release, nil
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

// intersect returns the elements of a also in b.
func intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// errUndecodable is a vault entry that opens but is no record.
var errUndecodable = errors.New("the stored connection does not decode")

// union returns a followed by the elements of b not in a.
func union(a, b []string) []string {
	return append(slices.Clone(a), without(b, a)...)
}
