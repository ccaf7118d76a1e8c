package connections

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/authn"
	"golang.org/x/oauth2"
)

// pending is a connect link (ticket) or an authorization under way
// (state), sealed in the vault until used once or expired.
type pending struct {
	Issuer        string   `json:"iss"`
	Subject       string   `json:"sub"`
	Upstream      string   `json:"upstream"`
	ElicitationID string   `json:"elicitation_id,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`
	// State only.
	Verifier string `json:"verifier,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	ASIssuer string `json:"as_issuer,omitempty"`
	// IssParam: the authorization server sends iss (RFC 9207).
	IssParam bool `json:"iss_param,omitempty"`
}

const (
	kindTicket = "ticket"
	kindState  = "state"
)

// maxIDLen bounds ticket and state ids read from URLs.
const maxIDLen = 128

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (m *Manager) putPending(ctx context.Context, kind, id string, p *pending) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return m.opts.Vault.Put(ctx, nsPending, kind+":"+id, kind, raw, m.opts.Now().Add(m.opts.TicketTTL))
}

// takePending returns the pending entry of id for the employee signed in
// as who, once: a second take of the same id, on any replica, fails. An
// entry of another employee is refused (errWrongEmployee) and left for its
// own employee.
func (m *Manager) takePending(ctx context.Context, kind, id string, who *authn.Identity) (*pending, error) {
	if id == "" || len(id) > maxIDLen {
		return nil, errLinkInvalid
	}
	raw, ok, err := m.opts.Vault.Get(ctx, nsPending, kind+":"+id, kind)
	if err != nil || !ok {
		return nil, errLinkInvalid
	}
	var p pending
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, errLinkInvalid
	}
	if !sameEmployee(who, p.Issuer, p.Subject) {
		m.log.Warn("connections: a link or callback opened by another employee than the one it was made for", "upstream", p.Upstream, "kind", kind)
		return nil, errWrongEmployee
	}
	first, err := m.opts.Store.Create(ctx, nsUsed, kind+":"+id, nil, m.opts.Now().Add(m.opts.TicketTTL))
	if err != nil {
		return nil, err
	}
	if !first {
		return nil, errLinkUsed
	}
	_ = m.opts.Vault.Delete(ctx, nsPending, kind+":"+id, kind)
	return &p, nil
}

var (
	errLinkInvalid   = errors.New("this link is not valid or has expired: go back to your MCP client and retry the request to get a new one")
	errLinkUsed      = errors.New("this link was already used: go back to your MCP client and retry the request to get a new one")
	errWrongEmployee = errors.New("this link was made for another employee: sign in as yourself, and retry the request in your MCP client")
)

// ConnectURL returns a single-use link to the connect page for id to
// connect upstream, with at least scopes, completing elicitationID. The
// link works only in a browser signed in to the gateway as id, and only
// for Options.TicketTTL.
func (m *Manager) ConnectURL(ctx context.Context, upstream string, id *authn.Identity, scopes []string, elicitationID string) (string, error) {
	if _, err := m.upstream(upstream); err != nil {
		return "", err
	}
	if id == nil {
		return "", errors.New("connections: no employee")
	}
	ticket := newID()
	if err := m.putPending(ctx, kindTicket, ticket, &pending{Issuer: id.Issuer, Subject: id.Subject, Upstream: upstream,
		ElicitationID: elicitationID, Scopes: scopes}); err != nil {
		return "", fmt.Errorf("connections: server %q: keeping the connect link: %w", upstream, err)
	}
	return m.pageURL(PathStart, url.Values{"ticket": {ticket}}), nil
}

// start serves the connect link: it checks that the signed-in employee is
// the one the link was made for, asks policy for the scopes, and sends
// the browser to the upstream's authorization server.
func (m *Manager) start(w http.ResponseWriter, r *http.Request) {
	id, ok := m.opts.Identity(r)
	if !ok {
		m.page(w, http.StatusUnauthorized, "Sign in first", "Sign in to the gateway in this browser, then open the link again.")
		return
	}
	t, err := m.takePending(r.Context(), kindTicket, r.URL.Query().Get("ticket"), id)
	if err != nil {
		m.linkError(w, err)
		return
	}
	u, err := m.upstream(t.Upstream)
	if err != nil {
		m.page(w, http.StatusNotFound, "Unknown server", "This server is no longer configured.")
		return
	}
	scopes, err := m.opts.Scopes(r.Context(), u.Name, id)
	if err != nil {
		m.page(w, http.StatusForbidden, "Not allowed", fmt.Sprintf("Policy does not let you connect %s: %v", u.Name, err))
		return
	}
	if missing := without(t.Scopes, scopes); len(missing) > 0 {
		m.page(w, http.StatusForbidden, "Not allowed", fmt.Sprintf("Policy does not grant you %s on %s.", strings.Join(missing, " "), u.Name))
		return
	}
	s, err := m.resolve(r.Context(), u)
	if err != nil {
		m.log.Error("connections: discovery failed", "upstream", u.Name, "err", err)
		m.page(w, http.StatusBadGateway, "Server unavailable", fmt.Sprintf("The gateway could not reach %s's authorization server; the error is in the gateway's log. Retry the request in your MCP client later for a new link.", u.Name))
		return
	}
	cfg, err := s.oauth2Config(m.redirectURI(u), scopes)
	if err != nil {
		m.log.Error("connections: client secret", "upstream", u.Name, "err", err)
		m.page(w, http.StatusInternalServerError, "Not configured", "The gateway's client for this server is not configured correctly; the error is in its log.")
		return
	}
	state, verifier := newID(), oauth2.GenerateVerifier()
	if err := m.putPending(r.Context(), kindState, state, &pending{Issuer: id.Issuer, Subject: id.Subject, Upstream: u.Name,
		ElicitationID: t.ElicitationID, Scopes: scopes, Verifier: verifier, ClientID: s.clientID, ASIssuer: s.issuer,
		IssParam: s.issParam}); err != nil {
		m.log.Error("connections: keeping the authorization state", "upstream", u.Name, "err", err)
		m.page(w, http.StatusServiceUnavailable, "Try again", "The gateway could not keep the authorization under way. Retry the request in your MCP client for a new link.")
		return
	}
	http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("resource", u.resource())), http.StatusSeeOther)
}

// callback completes an authorization: it checks the state and the
// employee, exchanges the code (PKCE, resource) and seals the token.
func (m *Manager) callback(w http.ResponseWriter, r *http.Request) {
	id, ok := m.opts.Identity(r)
	if !ok {
		m.page(w, http.StatusUnauthorized, "Sign in first", "Sign in to the gateway in this browser, then retry the request in your MCP client.")
		return
	}
	q := r.URL.Query()
	p, err := m.takePending(r.Context(), kindState, q.Get("state"), id)
	if err != nil {
		m.linkError(w, err)
		return
	}
	// The answer must come back where this upstream's authorization
	// server was told to send it, and, when that server says who it is
	// (RFC 9207), from that server: an authorization server of another
	// upstream cannot slip its code into this flow (mix-up).
	iss := q.Get("iss")
	if r.PathValue("upstream") != p.Upstream || iss != "" && iss != p.ASIssuer || iss == "" && p.IssParam {
		m.log.Warn("connections: a callback for another upstream or from another authorization server refused (mix-up)",
			"upstream", p.Upstream, "path", r.PathValue("upstream"), "iss", truncate(iss, 200), "employee", id.Subject)
		m.page(w, http.StatusBadRequest, "Authorization not valid", "This answer does not come from the server the authorization was started with. Nothing was stored.")
		return
	}
	if e := q.Get("error"); e != "" {
		m.page(w, http.StatusForbidden, "Not connected", fmt.Sprintf("%s's authorization server answered %q. Nothing was stored.", p.Upstream, truncate(e, 64)))
		return
	}
	u, err := m.upstream(p.Upstream)
	if err != nil {
		m.page(w, http.StatusNotFound, "Unknown server", "This server is no longer configured.")
		return
	}
	rec, err := m.exchange(r.Context(), u, p, q.Get("code"))
	if err != nil {
		m.log.Warn("connections: code exchange failed", "upstream", u.Name, "employee", id.Subject, "err", err)
		m.page(w, http.StatusBadGateway, "Not connected", fmt.Sprintf("%s's authorization server did not issue a token; the error is in the gateway's log. Retry the request in your MCP client for a new link.", u.Name))
		return
	}
	if err := m.save(r.Context(), id, u.Name, rec); err != nil {
		m.log.Error("connections: sealing the token", "upstream", u.Name, "err", err)
		m.page(w, http.StatusServiceUnavailable, "Not connected", "The gateway could not store the token. Retry the request in your MCP client for a new link.")
		return
	}
	m.log.Info("employee connected an upstream", "upstream", u.Name, "employee", id.Subject, "issuer", id.Issuer,
		"scopes", strings.Join(rec.Scopes, " "))
	if m.opts.Connected != nil {
		m.opts.Connected(id, u.Name, p.ElicitationID)
	}
	m.page(w, http.StatusOK, "Connected", fmt.Sprintf("%s is connected. You can close this window and go back to your MCP client.", u.Name))
}

// linkError answers a ticket or state takePending refused.
func (m *Manager) linkError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errWrongEmployee):
		m.page(w, http.StatusForbidden, "Wrong account", err.Error())
	case errors.Is(err, errLinkInvalid), errors.Is(err, errLinkUsed):
		m.page(w, http.StatusBadRequest, "Link not valid", err.Error())
	default:
		m.log.Error("connections: reading a pending authorization", "err", err)
		m.page(w, http.StatusServiceUnavailable, "Try again", "The gateway could not read this link; try again.")
	}
}

// exchange redeems code for p.
func (m *Manager) exchange(ctx context.Context, u *Upstream, p *pending, code string) (*record, error) {
	if code == "" || len(code) > 4096 {
		return nil, errors.New("the callback has no valid code")
	}
	s, err := m.resolve(ctx, u)
	if err != nil {
		return nil, err
	}
	if s.issuer != p.ASIssuer || s.clientID != p.ClientID {
		return nil, errors.New("the authorization server or client changed during the authorization: start again")
	}
	cfg, err := s.oauth2Config(m.redirectURI(u), p.Scopes)
	if err != nil {
		return nil, err
	}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, m.client(u)), code,
		oauth2.VerifierOption(p.Verifier), oauth2.SetAuthURLParam("resource", u.resource()))
	if err != nil {
		return nil, describe(err)
	}
	if err := checkBearer(tok); err != nil {
		return nil, err
	}
	scopes := p.Scopes
	if granted := grantedScopes(tok); granted != nil {
		// Never more than policy granted, whatever the server says.
		scopes = slices.DeleteFunc(granted, func(s string) bool { return !slices.Contains(p.Scopes, s) })
	}
	now := m.opts.Now()
	return &record{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry,
		Scopes: scopes, Asked: p.Scopes, Issuer: s.issuer, ClientID: s.clientID, Connected: now}, nil
}

// revokeUpstream asks the authorization server to revoke r's tokens (RFC
// 7009), when it offers revocation; failures are logged only.
func (m *Manager) revokeUpstream(ctx context.Context, u *Upstream, r *record) {
	s, err := m.resolve(ctx, u)
	if err != nil || s.revocationURL == "" || s.issuer != r.Issuer || s.clientID != r.ClientID {
		return // tokens go only to the server that issued them
	}
	for _, t := range []struct{ token, hint string }{{r.RefreshToken, "refresh_token"}, {r.AccessToken, "access_token"}} {
		if t.token == "" {
			continue
		}
		form := url.Values{"token": {t.token}, "token_type_hint": {t.hint}}
		var secret string
		if s.clientSecret != nil {
			if secret, err = s.clientSecret(); err != nil {
				return
			}
		} else {
			form.Set("client_id", s.clientID)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.revocationURL, strings.NewReader(form.Encode()))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if s.clientSecret != nil {
			req.SetBasicAuth(url.QueryEscape(s.clientID), url.QueryEscape(secret))
		}
		resp, err := m.client(u).Do(req)
		if err != nil {
			m.log.Warn("connections: revoking at the authorization server failed", "upstream", u.Name, "err", err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			m.log.Warn("connections: the authorization server refused the revocation", "upstream", u.Name, "status", resp.StatusCode)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
