package websession

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"

	"golang.org/x/oauth2"
)

// flow is one sign-in under way: what the callback needs, kept in the
// browser's sealed sign-in cookie, so the callback works only in the
// browser that started it.
type flow struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	Next     string `json:"x"`
	Started  int64  `json:"t"`
}

// pending are the sign-ins under way in one browser (several tabs may
// have started one), newest last.
type pending struct {
	Flows []flow `json:"f"`
}

// maxPending bounds the sign-ins under way kept per browser; older ones
// are forgotten.
const maxPending = 4

// Bounds of what the IdP sends back through the browser.
const (
	stateLen = 43 // base64url of 32 bytes
	maxCode  = 4096
)

// randomToken returns 32 random bytes, base64url-encoded (stateLen).
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// serveSignIn starts a sign-in at the IdP and comes back to next (a path
// on the gateway), or goes there at once when already signed in.
func (m *Manager) serveSignIn(w http.ResponseWriter, r *http.Request) {
	next := m.opts.Home
	if q := r.URL.Query(); q.Has("next") {
		var ok bool
		if next, ok = localPath(q.Get("next")); !ok {
			m.errorPage(w, http.StatusBadRequest, "Bad sign-in link", "This sign-in link points outside the gateway.")
			return
		}
	}
	if _, ok := m.session(r); ok {
		http.Redirect(w, r, m.local(next), http.StatusSeeOther)
		return
	}
	fl := flow{State: randomToken(), Verifier: oauth2.GenerateVerifier(), Nonce: randomToken(), Next: next, Started: m.now().Unix()}
	target, err := m.idp.authCodeURL(r.Context(), &fl)
	if err != nil {
		m.log.Error("websession: sign-in unavailable", "err", err)
		m.errorPage(w, http.StatusServiceUnavailable, "Sign-in unavailable", "Your organisation's sign-in cannot be reached. Try again in a minute.")
		return
	}
	p := m.pendingFlows(r)
	p.Flows = append(p.Flows, fl)
	if len(p.Flows) > maxPending {
		p.Flows = p.Flows[len(p.Flows)-maxPending:]
	}
	if !m.savePending(w, p) {
		m.errorPage(w, http.StatusInternalServerError, "Sign-in failed", "The sign-in could not be started.")
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// pendingFlows returns the browser's sign-ins under way that have not
// expired.
func (m *Manager) pendingFlows(r *http.Request) *pending {
	var p pending
	if !m.openCookie(r, m.cookies.signIn, &p) {
		return &pending{}
	}
	oldest := m.now().Add(-signInTTL).Unix()
	p.Flows = slices.DeleteFunc(p.Flows, func(f flow) bool { return f.Started < oldest })
	return &p
}

// savePending writes the sign-ins under way, or clears the cookie when
// none is left.
func (m *Manager) savePending(w http.ResponseWriter, p *pending) bool {
	if len(p.Flows) == 0 {
		m.clearCookie(w, m.cookies.signIn)
		return true
	}
	v, ok, err := m.sealCookie(m.cookies.signIn, p)
	for err == nil && !ok && len(p.Flows) > 1 {
		// Long next paths: forget the oldest sign-ins rather than refuse
		// the newest (links could otherwise block sign-in for minutes).
		p.Flows = p.Flows[1:]
		v, ok, err = m.sealCookie(m.cookies.signIn, p)
	}
	if err != nil || !ok {
		m.log.Error("websession: cannot seal the sign-in cookie", "err", err)
		return false
	}
	m.setCookie(w, m.cookies.signIn, v, signInTTL)
	return true
}

// takeFlow removes and returns the browser's sign-in with state: each is
// used once.
func (m *Manager) takeFlow(w http.ResponseWriter, r *http.Request, state string) (*flow, bool) {
	if len(state) != stateLen {
		return nil, false
	}
	p := m.pendingFlows(r)
	i := slices.IndexFunc(p.Flows, func(f flow) bool { return f.State == state })
	if i < 0 {
		return nil, false
	}
	fl := p.Flows[i]
	p.Flows = slices.Delete(p.Flows, i, i+1)
	m.savePending(w, p)
	return &fl, true
}

// serveCallback is where the IdP sends the browser back with a code.
func (m *Manager) serveCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fl, ok := m.takeFlow(w, r, q.Get("state"))
	if !ok {
		m.errorPage(w, http.StatusBadRequest, "Sign-in expired",
			"This sign-in is unknown, was already used, expired, or was started in another browser. Sign in again.")
		return
	}
	if e := q.Get("error"); e != "" {
		m.log.Info("websession: the IdP refused the sign-in", "error", truncate(e, 100), "description", truncate(q.Get("error_description"), 300))
		m.errorPage(w, http.StatusForbidden, "Sign-in refused", "Your organisation's sign-in refused: "+truncate(e, 100))
		return
	}
	code := q.Get("code")
	if code == "" || len(code) > maxCode {
		m.errorPage(w, http.StatusBadRequest, "Sign-in failed", "The sign-in came back without a valid code. Sign in again.")
		return
	}
	tok, err := m.idp.redeem(r.Context(), code, fl)
	if err != nil {
		m.log.Warn("websession: sign-in failed", "err", err)
		status := http.StatusBadRequest
		if errors.Is(err, errIdP) {
			status = http.StatusBadGateway
		}
		m.errorPage(w, status, "Sign-in failed", "Signing in with your organisation failed. Sign in again; if it persists, give your administrator the time of this attempt.")
		return
	}
	if err := m.startSession(w, r, tok); err != nil {
		m.log.Warn("websession: sign-in refused", "err", err)
		m.errorPage(w, http.StatusForbidden, "Sign-in refused", err.Error())
		return
	}
	http.Redirect(w, r, m.local(fl.Next), http.StatusSeeOther)
}

// serveSignOut ends the session (a same-origin POST with its CSRF token)
// and says so; it does not redirect to a signed-in page, which would sign
// the employee in again at once through the IdP's own session.
func (m *Manager) serveSignOut(w http.ResponseWriter, r *http.Request) {
	if s, ok := m.session(r); ok {
		if err := m.checkCSRF(r, s); err != nil {
			m.log.Warn("websession: sign-out refused", "err", err)
			m.errorPage(w, http.StatusForbidden, "Request refused", "This form has expired or came from another site. Reload the page and try again.")
			return
		}
	}
	m.clearCookie(w, m.cookies.session)
	m.clearCookie(w, m.cookies.signIn)
	m.render(w, http.StatusOK, signedOutPage, struct{ Title, SignIn string }{"Signed out", m.local(PathSignIn)})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
