package authserver

import (
	"crypto"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpgate/mcpgate/authn"
)

func TestAuthorizeRefusesRedirectURIs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := map[string]struct {
		client   testClient
		redirect string
		ok       bool
	}{
		"unregistered":           {client: publicClient, redirect: "https://attacker.example/cb"},
		"altered path":           {client: publicClient, redirect: clientRedirect + "/x"},
		"altered query":          {client: publicClient, redirect: clientRedirect + "?x=1"},
		"other port":             {client: publicClient, redirect: "http://127.0.0.1:10/cb", ok: true}, // RFC 8252 §7.3
		"missing":                {client: publicClient, redirect: ""},
		"another client's":       {client: publicClient, redirect: "https://conf.example/cb"},
		"loopback any port":      {client: nativeClient, redirect: "http://127.0.0.1:4567/cb", ok: true},
		"loopback no port":       {client: nativeClient, redirect: "http://127.0.0.1/cb", ok: true},
		"loopback other path":    {client: nativeClient, redirect: "http://127.0.0.1:4567/other"},
		"loopback other host":    {client: nativeClient, redirect: "http://localhost:4567/cb"},
		"loopback user info":     {client: nativeClient, redirect: "http://127.0.0.1@attacker.example/cb"},
		"loopback https":         {client: nativeClient, redirect: "https://127.0.0.1:4567/cb"},
		"loopback trailing dots": {client: nativeClient, redirect: "http://127.0.0.1:4567/cb/.."},
	}
	accepted := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ar := newAuthRequest(tc.client, "tools:read")
			ar.redirect = tc.redirect
			r := newBrowser(t).get(h.authorizeURL(ar))
			if tc.ok {
				accepted++
				if loc := r.header.Get("Location"); r.status != http.StatusFound || !strings.HasPrefix(loc, h.opts.IdP.Issuer+"/authorize?") {
					t.Errorf("got %d to %q, want the IdP", r.status, loc)
				}
				return
			}
			r.wantErrorPage(t, http.StatusBadRequest, "Unregistered redirect")
		})
	}
	if n := h.store.written(); n != accepted {
		t.Errorf("%d records written, want %d (the accepted sign-ins)", n, accepted)
	}
}

func TestAuthorizeRefusesUnknownClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, id := range []string{"", "nobody", strings.Repeat("x", 300), "https://client.example/doc.json"} {
		ar := newAuthRequest(testClient{id: id}, "tools:read")
		r := newBrowser(t).get(h.authorizeURL(ar))
		if r.status < 400 || r.header.Get("Location") != "" {
			t.Errorf("client %q: got %d to %q, want an error page", id, r.status, r.header.Get("Location"))
		}
	}
}

func TestAuthorizeRefusesBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := map[string]struct {
		params url.Values
		code   string
	}{
		"no PKCE":            {params: url.Values{"code_challenge": {""}, "code_challenge_method": {""}}, code: "invalid_request"},
		"PKCE plain":         {params: url.Values{"code_challenge_method": {"plain"}}, code: "invalid_request"},
		"no PKCE method":     {params: url.Values{"code_challenge_method": {""}}, code: "invalid_request"},
		"short challenge":    {params: url.Values{"code_challenge": {"abc"}}, code: "invalid_request"},
		"challenge not b64":  {params: url.Values{"code_challenge": {strings.Repeat("+", 43)}}, code: "invalid_request"},
		"no state":           {params: url.Values{"state": {""}}, code: "invalid_request"},
		"long state":         {params: url.Values{"state": {strings.Repeat("s", 600)}}, code: "invalid_request"},
		"token flow":         {params: url.Values{"response_type": {"token"}}, code: "unsupported_response_type"},
		"another resource":   {params: url.Values{"resource": {"https://other.example/mcp"}}, code: "invalid_target"},
		"request object":     {params: url.Values{"request": {"eyJ"}}, code: "request_not_supported"},
		"malformed scope":    {params: url.Values{"scope": {`tools:read "x"`}}, code: "invalid_scope"},
		"no response_type":   {params: url.Values{"response_type": {""}}, code: "unsupported_response_type"},
		"resource with path": {params: url.Values{"resource": {h.opts.Resource + "/other"}}, code: "invalid_target"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ar := newAuthRequest(publicClient, "tools:read")
			ar.params = tc.params
			if st, ok := tc.params["state"]; ok {
				ar.state = st[0] // sent back as it came, if at all
			}
			h.checkErrorRedirect(newBrowser(t).get(h.authorizeURL(ar)).clientRedirectQuery(t, clientRedirect), ar, tc.code)
		})
	}
	// Repeated parameters and an overlong request: not even the client is trusted.
	b := newBrowser(t)
	base := h.authorizeURL(newAuthRequest(publicClient, "tools:read"))
	for _, dup := range []string{"client_id=app", "redirect_uri=https%3A%2F%2Fattacker.example%2Fcb", "state=x", "scope=admin"} {
		b.get(base+"&"+dup).wantErrorPage(t, http.StatusBadRequest, "Malformed request")
	}
	b.get(base+"&pad="+strings.Repeat("x", maxAuthorizeQuery)).wantErrorPage(t, http.StatusRequestURITooLong, "Request too long")
	if n := h.store.written(); n != 0 {
		t.Errorf("%d records written for refused requests", n)
	}
}

func TestTokenRefusesBadCodeRedemptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	tests := map[string]struct {
		client testClient
		form   url.Values // changes to the redemption
		status int
		code   string
	}{
		"wrong verifier":       {form: url.Values{"code_verifier": {randomToken(40)}}, status: 400, code: "invalid_grant"},
		"no verifier":          {form: url.Values{"code_verifier": {""}}, status: 400, code: "invalid_grant"},
		"another client":       {client: basicClient, status: 400, code: "invalid_grant"},
		"another redirect_uri": {form: url.Values{"redirect_uri": {"https://conf.example/cb"}}, status: 400, code: "invalid_grant"},
		"no redirect_uri":      {form: url.Values{"redirect_uri": {""}}, status: 400, code: "invalid_grant"},
		"another resource":     {form: url.Values{"resource": {"https://other.example/mcp"}}, status: 400, code: "invalid_target"},
		"unknown code":         {form: url.Values{"code": {"forged"}}, status: 400, code: "invalid_grant"},
		"wrong secret":         {client: testClient{id: basicClient.id, secret: "wrong", method: "basic"}, status: 401, code: "invalid_client"},
		"no secret":            {client: testClient{id: basicClient.id, method: "none"}, status: 401, code: "invalid_client"},
		"public with a secret": {client: testClient{id: publicClient.id, secret: "x", method: "post"}, status: 401, code: "invalid_client"},
		"unknown client":       {client: testClient{id: "nobody", method: "none"}, status: 401, code: "invalid_client"},
		"grant type":           {form: url.Values{"grant_type": {"client_credentials"}}, status: 400, code: "unsupported_grant_type"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ar := newAuthRequest(publicClient, "tools:read")
			ar.redirect = clientRedirect
			code := h.code(b, ar, "alice")
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {ar.redirect}, "code_verifier": {ar.verifier}}
			for k, v := range tc.form {
				if v[0] == "" {
					form.Del(k)
				} else {
					form[k] = v
				}
			}
			c := tc.client
			if c.id == "" {
				c = publicClient
			}
			h.token(c, form).wantError(t, tc.status, tc.code)
		})
	}
}

func TestTokenRefusesMalformedRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tokenURL := h.opts.Issuer + PathToken
	send := func(method, u, contentType, body string, basic ...string) *tokenAnswer {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if len(basic) == 2 {
			req.SetBasicAuth(basic[0], basic[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		a := &tokenAnswer{status: resp.StatusCode, header: resp.Header}
		jsonDecode(t, resp.Body, &a.err)
		return a
	}
	form := "grant_type=refresh_token&client_id=app&refresh_token=x"
	tests := map[string]struct {
		method, url, contentType, body string
		basic                          []string
		status                         int
		code                           string
	}{
		"GET":              {method: "GET", url: tokenURL + "?" + form, status: 405, code: "invalid_request"},
		"JSON":             {method: "POST", url: tokenURL, contentType: "application/json", body: `{"grant_type":"refresh_token"}`, status: 400, code: "invalid_request"},
		"query parameters": {method: "POST", url: tokenURL + "?client_id=app", contentType: "application/x-www-form-urlencoded", body: form, status: 400, code: "invalid_request"},
		"repeated":         {method: "POST", url: tokenURL, contentType: "application/x-www-form-urlencoded", body: form + "&refresh_token=y", status: 400, code: "invalid_request"},
		"oversized":        {method: "POST", url: tokenURL, contentType: "application/x-www-form-urlencoded", body: form + "&pad=" + strings.Repeat("x", maxTokenForm), status: 400, code: "invalid_request"},
		"two auth methods": {method: "POST", url: tokenURL, contentType: "application/x-www-form-urlencoded", body: form + "&client_secret=conf-secret", basic: []string{"conf", "conf-secret"}, status: 400, code: "invalid_request"},
		"basic and another client_id": {method: "POST", url: tokenURL, contentType: "application/x-www-form-urlencoded", body: form,
			basic: []string{"conf", "conf-secret"}, status: 401, code: "invalid_client"},
		"no client": {method: "POST", url: tokenURL, contentType: "application/x-www-form-urlencoded", body: "grant_type=refresh_token&refresh_token=x", status: 401, code: "invalid_client"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			send(tc.method, tc.url, tc.contentType, tc.body, tc.basic...).wantError(t, tc.status, tc.code)
		})
	}
}

func TestCodeReuseRevokesItsTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ar := newAuthRequest(publicClient, "tools:read")
	code := h.code(newBrowser(t), ar, "alice")
	first := h.redeem(ar, code)
	first.wantTokens(t, "tools:read")
	h.redeem(ar, code).wantError(t, http.StatusBadRequest, "invalid_grant")
	h.refresh(publicClient, first.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
}

func TestRefreshReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	first := h.login(b, newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	other := h.login(b, newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	second := h.refresh(publicClient, first.RefreshToken)
	second.wantTokens(t, "tools:read")

	h.refresh(basicClient, second.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant") // not its token; nothing revoked
	h.refresh(publicClient, first.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
	h.refresh(publicClient, second.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
	// Another sign-in's family is untouched.
	h.refresh(publicClient, other.RefreshToken).wantTokens(t, "tools:read")
}

func TestRefreshScopes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.login(newBrowser(t), newAuthRequest(publicClient, "tools:read tools:write"), "alice", "tools:read tools:write")
	narrow := func(rt, scope string) *tokenAnswer {
		return h.token(publicClient, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope}})
	}
	// A refused request does not spend the refresh token.
	narrow(a.RefreshToken, "tools:read admin").wantError(t, http.StatusBadRequest, "invalid_scope")
	a2 := h.refresh(publicClient, a.RefreshToken)
	a2.wantTokens(t, "tools:read tools:write")

	// Narrowing gives a narrower access token; the new refresh token keeps
	// the scope of the one it replaces (RFC 6749 §6).
	b := narrow(a2.RefreshToken, "tools:read")
	b.wantTokens(t, "tools:read")
	h.checkIdentity(b.AccessToken, publicClient.id, "tools:read")
	c := h.refresh(publicClient, b.RefreshToken)
	c.wantTokens(t, "tools:read tools:write")

	// The policy takes write away, then gives it back: each refresh is
	// decided again, within the grant.
	h.granter.set(func(g *testGranter) { g.allowed["alice"] = []string{"tools:read"} })
	d := h.refresh(publicClient, c.RefreshToken)
	d.wantTokens(t, "tools:read")
	h.checkIdentity(d.AccessToken, publicClient.id, "tools:read")
	h.granter.set(func(g *testGranter) { g.allowed["alice"] = []string{"tools:read", "tools:write"} })
	h.refresh(publicClient, d.RefreshToken).wantTokens(t, "tools:read tools:write")
}

func TestResourceAtToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.login(newBrowser(t), newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	h.token(publicClient, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken},
		"resource": {"https://other.example/mcp"}}).wantError(t, http.StatusBadRequest, "invalid_target")
	h.token(publicClient, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken},
		"resource": {h.opts.Resource}}).wantTokens(t, "tools:read")
}

func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ar := newAuthRequest(publicClient, "tools:read")
	callback, _ := url.Parse(newBrowser(t).signInAtIdP(h.authorizeURL(ar), "alice"))
	q := callback.Query()
	forged := func(state string) string {
		u := *callback
		v := cloneValues(q)
		if state == "" {
			v.Del("state")
		} else {
			v.Set("state", state)
		}
		u.RawQuery = v.Encode()
		return u.String()
	}
	b := newBrowser(t)
	b.get(forged("")).wantErrorPage(t, http.StatusBadRequest, "Sign-in expired")
	b.get(forged(randomToken(24))).wantErrorPage(t, http.StatusBadRequest, "Sign-in expired")
	b.get(forged(strings.Repeat("a", 1000))).wantErrorPage(t, http.StatusBadRequest, "Sign-in expired")
	// The real state, in another browser: refused, and spent.
	b.get(callback.String()).wantErrorPage(t, http.StatusBadRequest, "Sign-in refused")
	b.get(callback.String()).wantErrorPage(t, http.StatusBadRequest, "Sign-in expired")
	if n := h.store.written(nsConsentReq, nsCode, nsSession); n != 0 {
		t.Errorf("%d consent pages, codes or sessions stored", n)
	}
}

func TestCallbackReplayedInTheSameBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	ar := newAuthRequest(publicClient, "tools:read")
	callback := b.signInAtIdP(h.authorizeURL(ar), "alice")
	if page := b.get(callback); page.status != http.StatusOK {
		t.Fatalf("callback: %d", page.status)
	}
	b.get(callback).wantErrorPage(t, http.StatusBadRequest, "Sign-in expired")
}

func TestCallbackIdPError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	ar := newAuthRequest(publicClient, "tools:read")
	callback, _ := url.Parse(b.signInAtIdP(h.authorizeURL(ar), "alice"))
	q := callback.Query()
	q.Del("code")
	q.Set("error", "access_denied")
	callback.RawQuery = q.Encode()
	h.checkErrorRedirect(b.get(callback.String()).clientRedirectQuery(t, clientRedirect), ar, "access_denied")
}

func TestConsentRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	ar := newAuthRequest(publicClient, "tools:read")
	page := b.signIn(h.authorizeURL(ar), "alice")
	consentURL := h.opts.Issuer + PathConsent

	// Cross-site posts are refused before the consent is looked at.
	b.answerConsent(page, "allow", "Sec-Fetch-Site", "cross-site").wantStatus(t, http.StatusForbidden)
	b.answerConsent(page, "allow", "Origin", "https://attacker.example").wantStatus(t, http.StatusForbidden)
	// Without a consent id, or a forged one.
	b.post(consentURL, url.Values{"decision": {"allow"}}).wantErrorPage(t, http.StatusBadRequest, "Consent expired")
	b.post(consentURL, url.Values{"consent": {randomToken(24)}, "decision": {"allow"}}).wantErrorPage(t, http.StatusBadRequest, "Consent expired")
	if n := h.store.written(nsCode, nsConsent); n != 0 {
		t.Fatalf("%d codes or consents stored", n)
	}
	// The page still works in its own browser after all that.
	q := b.answerConsent(page, "allow").clientRedirectQuery(t, clientRedirect)
	h.checkCodeRedirect(q, ar)

	// The id without the browser's cookie.
	ar = newAuthRequest(publicClient, "tools:write")
	page = b.signIn(h.authorizeURL(ar), "alice")
	other := newBrowser(t)
	other.post(consentURL, url.Values{"consent": {consentID(t, page)}, "decision": {"allow"}}).wantErrorPage(t, http.StatusBadRequest, "Consent expired")
	// Answered once only.
	b.answerConsent(page, "allow").wantErrorPage(t, http.StatusBadRequest, "Consent expired")
}

func (r *response) wantStatus(t *testing.T, status int) {
	t.Helper()
	if r.status != status || r.header.Get("Location") != "" {
		t.Errorf("got %d to %q, want %d", r.status, r.header.Get("Location"), status)
	}
}

func TestRemovedKeyRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	k2 := newKey(t)
	optsA := h.opts
	optsA.Keys = []crypto.Signer{h.keys[0], k2}
	optsB := h.opts
	optsB.Keys = []crypto.Signer{k2}
	a, bSrv := h.newServer(optsA), h.newServer(optsB)
	tok, _, _, err := a.IssueDirect(t.Context(), Subject{Sub: "alice"}, "script", []string{"tools:read"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.verifier(a).Verify(t.Context(), tok); err != nil {
		t.Errorf("the signing server's verifier refused its token: %v", err)
	}
	if _, err := h.verifier(bSrv).Verify(t.Context(), tok); !errors.Is(err, authn.ErrInvalidToken) {
		t.Errorf("verify with the key removed: %v, want invalid token", err)
	}
}

func TestTokenTypeJWTRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: h.keys[0]}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw, err := jwt.Signed(signer).Claims(accessClaims{Claims: jwt.Claims{Issuer: h.opts.Issuer, Subject: "alice",
		Audience: jwt.Audience{h.opts.Resource}, Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)},
		ClientID: "app", Scope: "tools:read"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.verifier(h.srv).Verify(t.Context(), raw); !errors.Is(err, authn.ErrInvalidToken) {
		t.Errorf("verify a typ JWT token: %v, want invalid token", err)
	}
}

// race runs f n times at once and returns the answers.
func race(n int, f func() *tokenAnswer) []*tokenAnswer {
	out := make([]*tokenAnswer, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { out[i] = f() })
	}
	wg.Wait()
	return out
}

// wantAtMostOneWinner checks that at most one of answers has tokens, the
// others invalid_grant, and that no refresh token issued refreshes: a
// token presented twice revokes them all.
func (h *harness) wantAtMostOneWinner(c testClient, answers []*tokenAnswer) {
	h.t.Helper()
	won := 0
	for _, a := range answers {
		if a.status == http.StatusOK {
			won++
			h.refresh(c, a.RefreshToken).wantError(h.t, http.StatusBadRequest, "invalid_grant")
			continue
		}
		a.wantError(h.t, http.StatusBadRequest, "invalid_grant")
	}
	if won > 1 {
		h.t.Errorf("%d of %d concurrent uses got tokens", won, len(answers))
	}
}

func TestConcurrentCodeRedemption(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ar := newAuthRequest(publicClient, "tools:read")
	code := h.code(newBrowser(t), ar, "alice")
	h.wantAtMostOneWinner(publicClient, race(8, func() *tokenAnswer { return h.redeem(ar, code) }))
}

func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.login(newBrowser(t), newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	h.wantAtMostOneWinner(publicClient, race(8, func() *tokenAnswer { return h.refresh(publicClient, a.RefreshToken) }))
}

// TestCrossOriginAPI: browser-based clients may call the token and
// revocation endpoints (no cookie is involved), and a preflight is
// answered; the consent form and registration are not among them.
func TestCrossOriginAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, path := range []string{PathToken, PathRevoke} {
		req, _ := http.NewRequest(http.MethodOptions, h.gw.URL+path, nil)
		req.Header.Set("Origin", "https://inspector.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight of %s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	for _, path := range []string{PathConsent, PathRegister} {
		req, _ := http.NewRequest(http.MethodOptions, h.gw.URL+path, nil)
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s answers cross-origin: %v", path, resp.Header)
		}
	}
}

// TestCookiesOnHTTPS: on an https issuer every cookie is Secure, HttpOnly
// and __Host- prefixed (Path=/), so a sibling subdomain cannot plant a
// sign-in binding (login CSRF); it is still found when it comes back.
func TestCookiesOnHTTPS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	opts := h.opts
	opts.Issuer, opts.Resource = "https://mcp.example.com", "https://mcp.example.com/mcp"
	s := h.newServer(opts)
	rec := httptest.NewRecorder()
	s.setCookie(rec, bindingCookie("abcdefghijklmnop"), "v", PathCallback, time.Minute, http.SameSiteLaxMode)
	c := rec.Result().Cookies()[0]
	if c.Name != "__Host-mcpgate_signin_abcdefghijkl" || c.Path != "/" || !c.Secure || !c.HttpOnly || c.Domain != "" {
		t.Errorf("cookie on https: %+v", c)
	}
	req := httptest.NewRequest(http.MethodGet, "https://mcp.example.com/oauth/callback", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: "v"})
	if !s.cookieMatches(req, bindingCookie("abcdefghijklmnop"), hashBytes("v")) {
		t.Error("the __Host- cookie is not recognised when it comes back")
	}
	req = httptest.NewRequest(http.MethodGet, "https://mcp.example.com/oauth/callback", nil)
	req.AddCookie(&http.Cookie{Name: "mcpgate_signin_abcdefghijkl", Value: "v"})
	if s.cookieMatches(req, bindingCookie("abcdefghijklmnop"), hashBytes("v")) {
		t.Error("a cookie without the __Host- prefix is accepted on https")
	}
}
