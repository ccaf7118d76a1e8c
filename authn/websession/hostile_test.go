package websession

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// withParam returns callback URL cb with one query parameter replaced.
func withParam(t *testing.T, cb, key, value string) string {
	t.Helper()
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func testHostileCallback(t *testing.T, h *harness) {
	expired := func(name, u string, b *browser) {
		t.Helper()
		if resp, body := b.get(u); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Sign-in expired") {
			t.Errorf("%s: %s: %s", name, resp.Status, body)
		}
	}
	t.Run("state mismatch, then the real callback", func(t *testing.T) {
		b := newBrowser(t)
		cb := h.atDex(b, h.startSignIn(b, "/page"), alice)
		expired("another state", withParam(t, cb, "state", randomToken()), b)
		expired("oversized state", withParam(t, cb, "state", strings.Repeat("A", 10000)), b)
		expired("no state", withParam(t, cb, "state", ""), b)
		if resp, body := b.get(cb); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the real callback after refused ones: %s: %s", resp.Status, body)
		}
		expired("replayed callback", cb, b)
		if h.page(b).Identity.Email != alice.Email {
			t.Error("a replayed callback changed the session")
		}
	})
	t.Run("callback in another browser", func(t *testing.T) {
		b := newBrowser(t)
		cb := h.atDex(b, h.startSignIn(b, "/page"), alice)
		thief := newBrowser(t)
		expired("another browser", cb, thief)
		if c := thief.cookie(h.srv, "mcpgate-session"); c != nil {
			t.Error("the other browser got a session")
		}
	})
	t.Run("code of another sign-in of the same browser", func(t *testing.T) {
		b := newBrowser(t)
		authA := h.startSignIn(b, "/page")
		authB := h.startSignIn(b, "/page")
		cbA := h.atDex(b, authA, alice)
		stateB, _ := url.Parse(authB)
		// State B's PKCE verifier does not match code A's challenge: Dex
		// refuses the redemption.
		resp, body := b.get(withParam(t, cbA, "state", stateB.Query().Get("state")))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Sign-in failed") {
			t.Errorf("code A with state B: %s: %s", resp.Status, body)
		}
		if c := b.cookie(h.srv, "mcpgate-session"); c != nil {
			t.Error("a mixed-up sign-in set a session")
		}
	})
	t.Run("parallel sign-ins of one browser", func(t *testing.T) {
		b := newBrowser(t)
		authA := h.startSignIn(b, "/page?tab=a")
		authB := h.startSignIn(b, "/page?tab=b")
		cbB := h.atDex(b, authB, alice)
		cbA := h.atDex(b, authA, alice)
		for cb, want := range map[string]string{cbA: "/page?tab=a", cbB: "/page?tab=b"} {
			if resp, body := b.get(cb); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
				t.Errorf("callback: %s to %q: %s", resp.Status, resp.Header.Get("Location"), body)
			}
		}
	})
	t.Run("IdP error", func(t *testing.T) {
		b := newBrowser(t)
		cb := h.atDex(b, h.startSignIn(b, "/page"), alice)
		u := withParam(t, withParam(t, cb, "code", ""), "error", "access_denied<script>")
		resp, body := b.get(u)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "access_denied&lt;script&gt;") {
			t.Errorf("callback with error: %s: %s", resp.Status, body)
		}
		expired("the same sign-in after the error", cb, b)
	})
	t.Run("bad code", func(t *testing.T) {
		for name, code := range map[string]string{"oversized": strings.Repeat("c", maxCode+1), "empty": "", "forged": "forged-code"} {
			b := newBrowser(t)
			cb := h.atDex(b, h.startSignIn(b, "/page"), alice)
			if resp, body := b.get(withParam(t, cb, "code", code)); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s code: %s: %s", name, resp.Status, body)
			}
		}
	})
	t.Run("expired sign-in", func(t *testing.T) {
		b := newBrowser(t)
		cb := h.atDex(b, h.startSignIn(b, "/page"), alice)
		o := h.opts
		o.Now = func() time.Time { return time.Now().Add(signInTTL + time.Minute) }
		late := h.manager(o)
		req := httptest.NewRequest(http.MethodGet, cb, nil)
		for _, c := range b.c.Jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		late.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("callback after %s: %d, want 400", signInTTL, rec.Code)
		}
	})
}

// serveWith runs handler for a GET of u with browser b's cookies.
func serveWith(b *browser, handler http.Handler, method, u string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, u, nil)
	for _, c := range b.c.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

func testHostileCookies(t *testing.T, h *harness) {
	b, _ := h.signedIn(alice)
	session := b.cookie(h.srv, "mcpgate-session").Value
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	other := func(tweak func(*Options)) *Manager {
		o := h.opts
		tweak(&o)
		return h.manager(o)
	}
	pageURL := h.srv.URL + "/page"

	rotated := other(func(o *Options) { o.Keys = [][]byte{testKey(2), testKey(1)} })
	if rec := serveWith(b, rotated.Require(page), http.MethodGet, pageURL); rec.Code != http.StatusOK {
		t.Errorf("a ring with the sealing key second refused the session: %d", rec.Code)
	}
	refused := map[string]*Manager{
		"another key":           other(func(o *Options) { o.Keys = [][]byte{testKey(2)} }),
		"another deployment":    other(func(o *Options) { o.BaseURL = "http://127.0.0.1:1" }),
		"past its TTL":          other(func(o *Options) { o.Now = func() time.Time { return time.Now().Add(DefaultTTL + time.Second) } }),
		"created in the future": other(func(o *Options) { o.Now = func() time.Time { return time.Now().Add(-clockSkew - time.Minute) } }),
	}
	for name, m := range refused {
		if rec := serveWith(b, m.Require(page), http.MethodGet, pageURL); rec.Code != http.StatusSeeOther {
			t.Errorf("%s: GET: %d, want 303", name, rec.Code)
		}
		if rec := serveWith(b, m.Require(page), http.MethodPost, pageURL); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: POST: %d, want 401", name, rec.Code)
		}
	}

	flip := func(i int) string {
		c := []byte(session)
		if c[i] == 'A' {
			c[i] = 'B'
		} else {
			c[i] = 'A'
		}
		return string(c)
	}
	signIn := newBrowser(t)
	h.startSignIn(signIn, "/page")
	for name, value := range map[string]string{
		"first byte changed": flip(0),
		"middle changed":     flip(len(session) / 2),
		"last byte changed":  flip(len(session) - 1),
		"truncated":          session[:len(session)-3],
		"padded":             session + "==",
		"garbage":            "not-a-sealed-cookie",
		"oversized":          strings.Repeat("A", 5000),
		"the sign-in cookie": signIn.cookie(h.srv, "mcpgate-signin").Value,
	} {
		tb := newBrowser(t)
		tb.setCookie(h.srv, "mcpgate-session", value)
		if resp, _ := tb.get(pageURL); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: GET /page: %s, want 303", name, resp.Status)
		}
	}
}

func testClientSecret(t *testing.T, h *harness) {
	b := newBrowser(t)
	cb := h.atDex(b, h.startSignIn(b, "/page"), alice)
	err := errors.New("secret file unreadable")
	h.secretErr.Store(&err)
	resp, body := b.get(cb)
	h.secretErr.Store(nil)
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(body, "unreadable") {
		t.Errorf("callback while the client secret cannot be read: %s: %s", resp.Status, body)
	}
	// The secret is read at each redemption: it works again at once.
	h.signedIn(alice)
}
