package websession

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate/authn"
)

// TestSignInWithDex runs the browser flow against a real Dex: a protected
// page sends the browser to sign in, Dex's login form is filled in, the
// callback sets the session, the page shows the employee, a form post
// needs the CSRF token, and sign-out ends the session. The hostile cases
// share the Dex.
func TestSignInWithDex(t *testing.T) {
	h := startHarness(t, nil)
	t.Run("flow", func(t *testing.T) { testFlow(t, h) })
	t.Run("csrf", func(t *testing.T) { testCSRF(t, h) })
	t.Run("next", func(t *testing.T) { testNext(t, h) })
	t.Run("callback", func(t *testing.T) { testHostileCallback(t, h) })
	t.Run("cookies", func(t *testing.T) { testHostileCookies(t, h) })
	t.Run("secret", func(t *testing.T) { testClientSecret(t, h) })
	t.Run("claim mapping", func(t *testing.T) { testClaimMapping(t, h) })
	t.Run("too many groups", func(t *testing.T) {
		b := newBrowser(t)
		resp, body := h.signIn(b, many, "/page")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "too many groups (200)") {
			t.Errorf("callback for a user with 200 groups: %s: %s", resp.Status, body)
		}
		if c := b.cookie(h.srv, h.m.cookies.session); c != nil {
			t.Errorf("a session cookie was set: %d bytes", len(c.Value))
		}
	})
}

func testFlow(t *testing.T, h *harness) {
	b := newBrowser(t)
	resp, _ := b.get(h.srv.URL + "/page?tab=1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != PathSignIn+"?next="+url.QueryEscape("/page?tab=1") {
		t.Fatalf("GET /page without a session: %s, Location %q; want 303 to sign-in with next", resp.Status, resp.Header.Get("Location"))
	}
	authURL := h.startSignIn(b, "/page?tab=1")
	q, _ := url.Parse(authURL)
	for k, want := range map[string]string{"client_id": "mcpgate-web", "redirect_uri": h.srv.URL + PathCallback,
		"code_challenge_method": "S256", "response_type": "code", "scope": "openid email profile groups"} {
		if got := q.Query().Get(k); got != want {
			t.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if q.Query().Get("nonce") == "" || q.Query().Get("code_challenge") == "" {
		t.Errorf("authorization request without nonce or PKCE challenge: %s", authURL)
	}
	resp, body := b.get(h.atDex(b, authURL, alice))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/page?tab=1" {
		t.Fatalf("callback: %s, Location %q: %s", resp.Status, resp.Header.Get("Location"), body)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "mcpgate-session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Secure {
		t.Errorf("session cookie on http loopback = %+v, want HttpOnly, SameSite=Lax, Path=/, not Secure", session)
	}
	if c := b.cookie(h.srv, "mcpgate-signin"); c != nil {
		t.Errorf("the sign-in cookie is still set after its only sign-in ended")
	}

	v := h.page(b)
	id := v.Identity
	if id.Subject == "" || id.Issuer != h.dex.Issuer || id.Email != alice.Email || id.Name != alice.Name {
		t.Errorf("identity = %+v", id)
	}
	if diff := cmp.Diff(alice.Groups, id.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if id.Claims["email"] != alice.Email || id.Claims["nonce"] != nil || id.Claims["at_hash"] != nil {
		t.Errorf("claims = %v, want the ID token's without nonce and at_hash", id.Claims)
	}
	if !slices.Contains(id.Audience, "mcpgate-web") {
		t.Errorf("audience = %v", id.Audience)
	}
	if len(v.CSRF) != stateLen {
		t.Errorf("CSRF token %q", v.CSRF)
	}

	if resp, body := b.post(h.srv.URL+"/action", url.Values{"csrf": {v.CSRF}}, nil); resp.StatusCode != http.StatusOK || body != "done for "+alice.Email {
		t.Errorf("POST /action with the CSRF token: %s: %s", resp.Status, body)
	}
	if resp, _ := b.get(h.srv.URL + PathSignIn + "?next=%2Fpage"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/page" {
		t.Errorf("sign-in link while signed in: %s to %q, want 303 straight to next", resp.Status, resp.Header.Get("Location"))
	}
	if resp, body := b.post(h.srv.URL+PathSignOut, url.Values{"csrf": {v.CSRF}}, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed out") {
		t.Fatalf("sign-out: %s: %s", resp.Status, body)
	}
	if resp, _ := b.get(h.srv.URL + "/page"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /page after sign-out: %s, want 303 to sign-in", resp.Status)
	}
}

func testCSRF(t *testing.T, h *harness) {
	b, v := h.signedIn(alice)
	_, bobs := h.signedIn(bob)
	if bobs.CSRF == v.CSRF {
		t.Fatal("two sessions have the same CSRF token")
	}
	action := h.srv.URL + "/action"
	refused := map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"no token":                {nil, nil},
		"empty token":             {url.Values{"csrf": {""}}, nil},
		"wrong token":             {url.Values{"csrf": {strings.Repeat("A", stateLen)}}, nil},
		"another session's token": {url.Values{"csrf": {bobs.CSRF}}, nil},
		"token in the query only": {nil, nil},
		"cross-site fetch":        {url.Values{"csrf": {v.CSRF}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		"same-site fetch":         {url.Values{"csrf": {v.CSRF}}, map[string]string{"Sec-Fetch-Site": "same-site"}},
		"foreign origin":          {url.Values{"csrf": {v.CSRF}}, map[string]string{"Origin": "http://evil.example"}},
		"null origin":             {url.Values{"csrf": {v.CSRF}}, map[string]string{"Origin": "null"}},
		"oversized form":          {url.Values{"pad": {strings.Repeat("x", maxFormBytes)}, "csrf": {v.CSRF}}, nil},
	}
	for name, tc := range refused {
		u := action
		if name == "token in the query only" {
			u += "?csrf=" + v.CSRF
		}
		if resp, body := b.post(u, tc.form, tc.hdr); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: POST /action: %s: %s", name, resp.Status, body)
		}
	}
	accepted := map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"form field":          {url.Values{"csrf": {v.CSRF}}, nil},
		"header":              {nil, map[string]string{CSRFHeader: v.CSRF}},
		"same-origin fetch":   {url.Values{"csrf": {v.CSRF}}, map[string]string{"Sec-Fetch-Site": "same-origin"}},
		"the gateway origin":  {url.Values{"csrf": {v.CSRF}}, map[string]string{"Origin": h.srv.URL}},
		"typed-in navigation": {url.Values{"csrf": {v.CSRF}}, map[string]string{"Sec-Fetch-Site": "none"}},
	}
	for name, tc := range accepted {
		if resp, body := b.post(action, tc.form, tc.hdr); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: POST /action: %s: %s", name, resp.Status, body)
		}
	}
	if resp, _ := newBrowser(t).post(action, url.Values{"csrf": {v.CSRF}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /action without a session: %s, want 401", resp.Status)
	}
	for name, tc := range map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"no token":      {nil, nil},
		"foreign token": {url.Values{"csrf": {bobs.CSRF}}, nil},
		"cross-site":    {url.Values{"csrf": {v.CSRF}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		if resp, body := b.post(h.srv.URL+PathSignOut, tc.form, tc.hdr); resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-out, %s: %s: %s", name, resp.Status, body)
		}
	}
	if got := h.page(b); got.CSRF != v.CSRF {
		t.Error("refused sign-outs ended the session")
	}
}

func testNext(t *testing.T, h *harness) {
	b := newBrowser(t)
	for _, next := range []string{
		"https://evil.example/", "http://evil.example", "//evil.example", "///evil.example", "/\\evil.example",
		"\\\\evil.example", "/%2F%2Fevil.example", "/%5Cevil.example", "/\t/evil.example", "/\r\nLocation: x",
		"javascript:alert(1)", "evil.example", "", "/page#frag", "/" + strings.Repeat("a", maxNext),
		"HTTPS://evil.example", " /page", "/page\x00",
	} {
		resp, _ := b.get(h.srv.URL + PathSignIn + "?next=" + url.QueryEscape(next))
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("next=%q: %s (Location %q), want 400", next, resp.Status, resp.Header.Get("Location"))
		}
	}
	if c := b.cookie(h.srv, "mcpgate-signin"); c != nil {
		t.Error("a refused sign-in link started a sign-in")
	}
	if resp, _ := h.signIn(b, alice, "/page?a=1&b=%2F"); resp.Header.Get("Location") != "/page?a=1&b=%2F" {
		t.Errorf("callback sent the browser to %q", resp.Header.Get("Location"))
	}
	// Links with long next paths fill the sign-in cookie: the oldest
	// sign-ins are forgotten, the newest one works.
	b = newBrowser(t)
	long := "/page?pad=" + strings.Repeat("p", maxNext-20)
	for range maxPending + 1 {
		h.startSignIn(b, long)
	}
	if resp, body := h.signIn(b, alice, long); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != long {
		t.Errorf("sign-in after links with long next paths: %s: %s", resp.Status, body)
	}
	b = newBrowser(t)
	if resp, _ := h.signIn(b, alice, ""); resp.Header.Get("Location") != "/" {
		t.Errorf("callback without next sent the browser to %q, want Home", resp.Header.Get("Location"))
	}
}

// TestHTTPSCookies: on an https BaseURL the cookies carry the __Host-
// prefix and Secure, and a base path prefixes redirects.
func TestHTTPSCookies(t *testing.T) {
	h := startHarness(t, nil)
	o := h.opts
	o.BaseURL = "https://mcp.example.com/gw"
	m := h.manager(o)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathSignIn+"?next=%2Fpage", nil))
	resp := rec.Result()
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	c := cookies[0]
	if c.Name != "__Host-mcpgate-signin" || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("sign-in cookie on https = %+v", c)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if got := loc.Query().Get("redirect_uri"); got != "https://mcp.example.com/gw"+PathCallback {
		t.Errorf("redirect_uri = %q", got)
	}
	rec = httptest.NewRecorder()
	m.Require(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/page", nil))
	if got := rec.Header().Get("Location"); got != "/gw"+PathSignIn+"?next=%2Fpage" {
		t.Errorf("Require redirects to %q", got)
	}
}

// TestOversizedClaims: claims too large for a cookie are left out of the
// session, which keeps the mapped identity.
func TestOversizedClaims(t *testing.T) {
	h := startHarness(t, func(o *Options) {
		o.Identity = func(_ context.Context, claims map[string]any) (*authn.Identity, error) {
			claims["blob"] = strings.Repeat("x", 5000)
			return authn.IdentityFromClaims(authn.ClaimMapping{}, claims)
		}
	})
	_, v := h.signedIn(alice)
	if v.Identity.Email != alice.Email || len(v.Identity.Groups) != 2 || len(v.Identity.Claims) != 0 {
		t.Errorf("identity = %+v, want the mapped fields without claims", v.Identity)
	}
}

// testClaimMapping: Options.Claims maps the ID token as the issuer's
// claims mapping does on /mcp.
func testClaimMapping(t *testing.T, h *harness) {
	o := h.opts
	o.Claims = authn.ClaimMapping{Name: "email", Groups: "email"}
	m := h.manager(o)
	b := newBrowser(t)
	cb := h.atDex(b, h.startSignIn(b, "/page"), alice)
	rec := serveWith(b, m.Handler(), http.MethodGet, cb)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("callback: %d: %s", rec.Code, rec.Body)
	}
	req := httptest.NewRequest(http.MethodGet, h.srv.URL+"/page", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	m.Require(servePage(m)).ServeHTTP(rec, req)
	var v pageView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("page: %d: %s", rec.Code, rec.Body)
	}
	if v.Identity.Name != alice.Email || !slices.Equal(v.Identity.Groups, []string{alice.Email}) {
		t.Errorf("identity with name and groups mapped to email = %+v", v.Identity)
	}
}
