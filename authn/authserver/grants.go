package authserver

import (
	"context"
	"net/http"
	"slices"
	"time"
)

// sessionCookie holds the grants page's browser session.
const sessionCookie = "mcpgate_grants"

// browserSession is a signed-in employee on the grants page.
type browserSession struct {
	Subject Subject `json:"subject"`
	CSRF    string  `json:"csrf"`
}

// startSession ends a sign-in for the grants page.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, sub Subject) {
	id := randomToken(32)
	if err := s.rec.put(ctx, nsSession, hashKey(id), &browserSession{Subject: sub, CSRF: randomToken(24)}, s.now().Add(sessionTTL)); err != nil {
		s.storeFailure(w, err)
		return
	}
	s.setCookie(w, sessionCookie, id, PathGrants, sessionTTL, http.SameSiteLaxMode)
	http.Redirect(w, r, s.opts.Issuer+PathGrants, http.StatusFound)
}

// session returns the browser's grants-page session, if any.
func (s *Server) session(ctx context.Context, r *http.Request) (*browserSession, bool, error) {
	c, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return nil, false, nil
	}
	var bs browserSession
	ok, err := s.rec.get(ctx, nsSession, hashKey(c.Value), &bs)
	return &bs, ok, err
}

// grantView is one line of the grants page.
type grantView struct {
	ClientID, ClientName, RedirectHost string
	Scopes                             []scopeView
	GrantedAt                          time.Time
}

// serveGrants lists the employee's consents; without a session it signs
// the employee in at the IdP first.
func (s *Server) serveGrants(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	bs, ok, err := s.session(ctx, r)
	if err != nil {
		s.storeFailure(w, err)
		return
	}
	if !ok {
		s.startSignIn(ctx, w, r, pendingAuth{Grants: true})
		return
	}
	grants, err := s.Grants(ctx, bs.Subject.Sub)
	if err != nil {
		s.storeFailure(w, err)
		return
	}
	views := make([]grantView, len(grants))
	for i, g := range grants {
		views[i] = grantView{ClientID: g.ClientID, ClientName: g.ClientName, RedirectHost: g.RedirectHost,
			Scopes: s.describe(g.Scopes, nil), GrantedAt: g.GrantedAt}
	}
	s.renderGrants(w, bs, views, r.URL.Query().Get("revoked"))
}

// serveGrantsRevoke revokes one consent and every refresh-token family
// issued under it. Cross-origin posts are refused before this runs, and
// the form carries the session's CSRF token.
func (s *Server) serveGrantsRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "Malformed request", "The form could not be read.")
		return
	}
	bs, ok, err := s.session(ctx, r)
	if err != nil {
		s.storeFailure(w, err)
		return
	}
	if !ok || !constantEqual(r.PostForm.Get("csrf"), bs.CSRF) {
		s.errorPage(w, http.StatusForbidden, "Not signed in", "Your session expired. Open the grants page again.")
		return
	}
	if _, err := s.RevokeGrant(ctx, bs.Subject.Sub, r.PostForm.Get("client_id"), "the employee"); err != nil {
		s.storeFailure(w, err)
		return
	}
	http.Redirect(w, r, s.opts.Issuer+PathGrants+"?revoked=1", http.StatusSeeOther)
}

// Grant is a consent an employee gave an OAuth client: the scopes it may
// be issued tokens for.
type Grant struct {
	ClientID, ClientName string
	// RedirectHost is the host the client's redirect URI points at.
	RedirectHost string
	Scopes       []string
	GrantedAt    time.Time
}

// Grants lists the consents of the employee whose subject (at the IdP) is
// sub, in the order they were given.
func (s *Server) Grants(ctx context.Context, sub string) ([]Grant, error) {
	var clients []string
	if _, err := s.rec.get(ctx, nsUserClients, hashKey(sub), &clients); err != nil {
		return nil, err
	}
	var out []Grant
	for _, id := range clients {
		var c consent
		ok, err := s.rec.get(ctx, nsConsent, consentKey(sub, id), &c)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, Grant{ClientID: id, ClientName: c.ClientName, RedirectHost: c.RedirectTo, Scopes: c.Scopes, GrantedAt: c.GrantedAt})
		}
	}
	return out, nil
}

// RevokeGrant revokes the consent the employee sub gave clientID, and
// every refresh-token family issued under it, and reports whether there
// was one. by says who revoked it, for the log line ("the employee", or
// the operator in the console).
func (s *Server) RevokeGrant(ctx context.Context, sub, clientID, by string) (bool, error) {
	ctx, unlock, err := s.lockUser(ctx, sub)
	if err != nil {
		return false, err
	}
	defer unlock()
	key := consentKey(sub, clientID)
	var c consent
	found, err := s.rec.get(ctx, nsConsent, key, &c)
	if err != nil || !found {
		return false, err
	}
	for _, f := range c.Families {
		s.revokeFamily(ctx, f)
	}
	if err := s.opts.Store.Delete(ctx, nsConsent, key); err != nil {
		return false, err
	}
	var clients []string
	if _, err := s.rec.get(ctx, nsUserClients, hashKey(sub), &clients); err == nil {
		clients = slices.DeleteFunc(clients, func(id string) bool { return id == clientID })
		s.rec.put(ctx, nsUserClients, hashKey(sub), clients, s.now().Add(s.opts.ConsentTTL))
	}
	s.log.Info("authserver: consent revoked", "by", by, "client_id", clientID, "sub", sub, "families", len(c.Families))
	return true, nil
}
