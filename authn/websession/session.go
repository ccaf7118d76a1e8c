package websession

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"time"

	"github.com/mcpgate/mcpgate/authn"
)

// session is what the session cookie carries.
type session struct {
	// CSRF is the session's random CSRF token.
	CSRF string `json:"c"`
	// Created and Expires are Unix seconds.
	Created int64 `json:"t"`
	Expires int64 `json:"e"`

	Sub      string         `json:"s"`
	Iss      string         `json:"i"`
	Email    string         `json:"m,omitempty"`
	Name     string         `json:"n,omitempty"`
	Groups   []string       `json:"g,omitempty"`
	Scopes   []string       `json:"sc,omitempty"`
	ClientID string         `json:"a,omitempty"`
	Audience []string       `json:"au,omitempty"`
	Claims   map[string]any `json:"cl,omitempty"`
}

// identity rebuilds the employee. Claims is never nil, as for the MCP
// side's identities.
func (s *session) identity() *authn.Identity {
	claims := s.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	return &authn.Identity{Subject: s.Sub, Issuer: s.Iss, Email: s.Email, Name: s.Name, Groups: s.Groups,
		Scopes: s.Scopes, ClientID: s.ClientID, Audience: s.Audience, Expiry: time.Unix(s.Expires, 0), Claims: claims}
}

type sessionKey struct{}

// signedIn is a request's session and the identity built from it.
type signedIn struct {
	s  *session
	id *authn.Identity
}

// FromContext returns the employee signed in to the request, in a handler
// wrapped by [Manager.Require]. A bearer token's identity (authn's
// context) is never returned here: pages trust only their own sign-in.
func FromContext(ctx context.Context) (*authn.Identity, bool) {
	si, ok := ctx.Value(sessionKey{}).(*signedIn)
	if !ok {
		return nil, false
	}
	return si.id, true
}

// session returns the request's valid, unexpired session.
func (m *Manager) session(r *http.Request) (*session, bool) {
	if si, ok := r.Context().Value(sessionKey{}).(*signedIn); ok {
		return si.s, true
	}
	var s session
	if !m.openCookie(r, m.cookies.session, &s) || s.Sub == "" || s.CSRF == "" {
		return nil, false
	}
	now := m.now().Unix()
	if now >= s.Expires || s.Created > now+int64(clockSkew/time.Second) {
		return nil, false
	}
	return &s, true
}

// clockSkew is how far in the future a session's creation may lie
// (replicas' clocks differ).
const clockSkew = 5 * time.Minute

// Require serves next to signed-in employees only. Without a valid
// session, a GET or HEAD is redirected to sign-in (and back here after),
// any other method gets 401. For every method but GET, HEAD and OPTIONS it
// also checks the request is same-origin and carries the session's CSRF
// token ([Manager.CheckCSRF]), else 403. Responses are never cached.
func (m *Manager) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, ok := m.session(r)
		if !ok {
			m.refuseAnonymous(w, r)
			return
		}
		if !safeMethod(r.Method) {
			if err := m.checkCSRF(r, s); err != nil {
				m.log.Warn("websession: request refused: CSRF check failed", "path", r.URL.Path, "err", err)
				m.errorPage(w, http.StatusForbidden, "Request refused", "This form has expired or came from another site. Reload the page and try again.")
				return
			}
		}
		ctx := context.WithValue(r.Context(), sessionKey{}, &signedIn{s: s, id: s.identity()})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (m *Manager) refuseAnonymous(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		m.errorPage(w, http.StatusUnauthorized, "Sign-in required", "Your session has ended. Reload the page to sign in again.")
		return
	}
	target := m.local(PathSignIn)
	if next, ok := localPath(r.URL.RequestURI()); ok {
		target += "?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// droppedClaims are ID token claims of the sign-in itself, of no use to a
// page or policy later.
var droppedClaims = []string{"nonce", "at_hash", "c_hash", "s_hash", "sid"}

// startSession maps the ID token's claims to the employee and sets the
// session cookie. When everything does not fit in a cookie, the raw claims
// are left out (the mapped subject, email, name and groups stay); when even
// that does not fit (thousands of groups), sign-in is refused with an error
// saying so.
func (m *Manager) startSession(w http.ResponseWriter, r *http.Request, tok *idToken) error {
	id, err := m.opts.Identity(r.Context(), tok.claims)
	if err != nil {
		return fmt.Errorf("your account cannot be mapped to an identity: %w", err)
	}
	if id == nil || id.Subject == "" {
		return errors.New("your account has no subject")
	}
	now := m.now()
	s := &session{CSRF: randomToken(), Created: now.Unix(), Expires: now.Add(m.opts.TTL).Unix(),
		Sub: id.Subject, Iss: m.opts.Issuer, Email: id.Email, Name: id.Name, Groups: id.Groups,
		Scopes: id.Scopes, ClientID: id.ClientID, Audience: tok.audience, Claims: maps.Clone(id.Claims)}
	for _, c := range droppedClaims {
		delete(s.Claims, c)
	}
	v, ok, err := m.sealCookie(m.cookies.session, s)
	if err == nil && !ok {
		m.log.Warn("websession: the ID token's claims do not fit in the session cookie; the session keeps only the mapped identity",
			"sub", s.Sub, "claims", len(s.Claims))
		s.Claims = nil
		v, ok, err = m.sealCookie(m.cookies.session, s)
	}
	switch {
	case err != nil:
		return fmt.Errorf("the session could not be sealed: %w", err)
	case !ok:
		return fmt.Errorf("your account has too many groups (%d) to fit in a browser session; ask your administrator to map fewer groups to this application", len(s.Groups))
	}
	m.setCookie(w, m.cookies.session, v, m.opts.TTL)
	m.log.Info("websession: signed in", "sub", s.Sub, "expires", time.Unix(s.Expires, 0).UTC())
	return nil
}
