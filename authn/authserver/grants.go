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
	var clients []string
	if _, err := s.rec.get(ctx, nsUserClients, hashKey(bs.Subject.Sub), &clients); err != nil {
		s.storeFailure(w, err)
		return
	}
	var views []grantView
	for _, id := range clients {
		var c consent
		ok, err := s.rec.get(ctx, nsConsent, consentKey(bs.Subject.Sub, id), &c)
		if err != nil {
			s.storeFailure(w, err)
			return
		}
		if ok {
			views = append(views, grantView{ClientID: id, ClientName: c.ClientName, RedirectHost: c.RedirectTo,
				Scopes: s.describe(c.Scopes, nil), GrantedAt: c.GrantedAt})
		}
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
	ctx, unlock, err := s.lockUser(ctx, bs.Subject.Sub)
	if err != nil {
		s.storeFailure(w, err)
		return
	}
	defer unlock()
	clientID := r.PostForm.Get("client_id")
	key := consentKey(bs.Subject.Sub, clientID)
	var c consent
	found, err := s.rec.get(ctx, nsConsent, key, &c)
	if err != nil {
		s.storeFailure(w, err)
		return
	}
	if found {
		for _, f := range c.Families {
			s.revokeFamily(ctx, f)
		}
		if err := s.opts.Store.Delete(ctx, nsConsent, key); err != nil {
			s.storeFailure(w, err)
			return
		}
		var clients []string
		if _, err := s.rec.get(ctx, nsUserClients, hashKey(bs.Subject.Sub), &clients); err == nil {
			clients = slices.DeleteFunc(clients, func(id string) bool { return id == clientID })
			s.rec.put(ctx, nsUserClients, hashKey(bs.Subject.Sub), clients, s.now().Add(s.opts.ConsentTTL))
		}
		s.log.Info("authserver: consent revoked by the employee", "client_id", clientID, "sub", bs.Subject.Sub, "families", len(c.Families))
	}
	http.Redirect(w, r, s.opts.Issuer+PathGrants+"?revoked=1", http.StatusSeeOther)
}
