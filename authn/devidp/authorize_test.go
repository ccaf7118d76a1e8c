package devidp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
)

func TestSignInPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient(t, "")
	u := h.issuer + "/authorize?" + h.authorizeParams(c).Encode()
	status, hdr, page := h.get(t, u)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, page)
	}
	for k, want := range map[string]string{
		"X-Frame-Options": "DENY",
		"Cache-Control":   "no-store",
		"Content-Type":    "text/html; charset=utf-8",
	} {
		if got := hdr.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q, want frame-ancestors 'none'", csp)
	}
	f, err := devsignin.ParseDevSignIn(u, page)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"alice", "bob", "carol", "mallory"}, f.Users); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	if f.Action.String() != h.issuer+"/authorize" || f.Fields.Get("csrf_token") == "" {
		t.Errorf("form action %s, csrf %q", f.Action, f.Fields.Get("csrf_token"))
	}
	for _, s := range []string{"mcpgate dev sign-in", "pick a demo user", "never use it in production"} {
		if !strings.Contains(strings.ToLower(string(page)), strings.ToLower(s)) {
			t.Errorf("page lacks %q", s)
		}
	}
}

func TestSignInPageEscapes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	status, out := h.register(t, map[string]any{"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "client_name": `<script>alert(1)</script>`})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, out)
	}
	c := registered{ID: out["client_id"].(string), Redirect: "http://127.0.0.1:9/cb"}
	q := h.authorizeParams(c)
	q.Set("state", `"><script>x</script>`)
	u := h.issuer + "/authorize?" + q.Encode()
	_, _, page := h.get(t, u)
	if strings.Contains(string(page), "<script>") {
		t.Fatalf("page contains unescaped markup:\n%s", page)
	}
	f, err := devsignin.ParseDevSignIn(u, page)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Fields.Get("state"); got != q.Get("state") {
		t.Errorf("state round trip = %q, want %q", got, q.Get("state"))
	}
}

func TestAuthorizeRedirect(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	status, out := h.register(t, map[string]any{"redirect_uris": []string{"http://localhost:7777/cb?keep=1"}})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, out)
	}
	c := registered{ID: out["client_id"].(string), Redirect: "http://localhost:7777/cb?keep=1"}
	loc, err := devsignin.DevSignIn(t.Context(), h.http, h.issuer+"/authorize?"+h.authorizeParams(c).Encode(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if loc.Host != "localhost:7777" || loc.Path != "/cb" || q.Get("keep") != "1" {
		t.Errorf("redirect %s does not keep the registered URI", loc)
	}
	if q.Get("code") == "" || q.Get("state") != "st-123" || q.Get("iss") != h.issuer {
		t.Errorf("redirect %s: want code, state st-123 and iss %s", loc, h.issuer)
	}
}

// Errors found before the redirect URI is trusted are shown as a 400 page;
// later ones are sent to the redirect URI with state and iss.
func TestAuthorizeErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient(t, "")
	cases := map[string]struct {
		edit      func(url.Values)
		wantPage  int    // status of an error page, or 0 for a redirect
		wantError string // error parameter of the redirect
	}{
		"unknown client":       {edit: func(v url.Values) { v.Set("client_id", "nope") }, wantPage: 400},
		"wrong redirect_uri":   {edit: func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9/other") }, wantPage: 400},
		"redirect_uri prefix":  {edit: func(v url.Values) { v.Set("redirect_uri", c.Redirect+"/x") }, wantPage: 400},
		"repeated client_id":   {edit: func(v url.Values) { v.Add("client_id", c.ID) }, wantPage: 400},
		"missing PKCE":         {edit: func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, wantError: "invalid_request"},
		"plain PKCE":           {edit: func(v url.Values) { v.Set("code_challenge_method", "plain") }, wantError: "invalid_request"},
		"PKCE method missing":  {edit: func(v url.Values) { v.Del("code_challenge_method") }, wantError: "invalid_request"},
		"malformed challenge":  {edit: func(v url.Values) { v.Set("code_challenge", "short") }, wantError: "invalid_request"},
		"wrong resource":       {edit: func(v url.Values) { v.Set("resource", "http://127.0.0.1:1/elsewhere") }, wantError: "invalid_target"},
		"two resources":        {edit: func(v url.Values) { v.Add("resource", "http://127.0.0.1:1/x") }, wantError: "invalid_target"},
		"token response type":  {edit: func(v url.Values) { v.Set("response_type", "token") }, wantError: "unsupported_response_type"},
		"only unknown scopes":  {edit: func(v url.Values) { v.Set("scope", "admin:all") }, wantError: "invalid_scope"},
		"repeated state":       {edit: func(v url.Values) { v.Add("state", "again") }, wantError: "invalid_request"},
		"no resource is fine":  {edit: func(v url.Values) { v.Del("resource") }, wantPage: 200},
		"extra scopes dropped": {edit: func(v url.Values) { v.Set("scope", "openid mcp") }, wantPage: 200},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			q := h.authorizeParams(c)
			tc.edit(q)
			checkAuthorizeAnswer(t, h, q, c.Redirect, tc.wantPage, tc.wantError)
		})
	}
}

// checkAuthorizeAnswer sends the authorization request q and checks the
// answer: a page with status wantPage and no redirect, or, if wantPage is
// 0, an error redirect to redirect with wantError.
func checkAuthorizeAnswer(t *testing.T, h *harness, q url.Values, redirect string, wantPage int, wantError string) {
	t.Helper()
	status, hdr, body := h.get(t, h.issuer+"/authorize?"+q.Encode())
	if wantPage == 0 {
		checkErrorRedirect(t, h, status, hdr, redirect, wantError)
		return
	}
	if status != wantPage || hdr.Get("Location") != "" {
		t.Fatalf("status %d, Location %q; want page %d: %s", status, hdr.Get("Location"), wantPage, body)
	}
}

func checkErrorRedirect(t *testing.T, h *harness, status int, hdr http.Header, redirect, wantError string) {
	t.Helper()
	if status != http.StatusFound {
		t.Fatalf("status %d, want 302", status)
	}
	loc, err := url.Parse(hdr.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirect+"?") {
		t.Fatalf("Location %q, want under %s", hdr.Get("Location"), redirect)
	}
	q := loc.Query()
	if q.Get("error") != wantError || q.Get("iss") != h.issuer || q.Get("state") != "st-123" || q.Get("code") != "" {
		t.Errorf("redirect query %v, want error=%s with state and iss, no code", q, wantError)
	}
}

// A sign-in form is good for one post: the same form posted again is
// refused, even within its lifetime.
func TestSignInFormUsedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient(t, "")
	u := h.issuer + "/authorize?" + h.authorizeParams(c).Encode()
	_, _, page := h.get(t, u)
	f, err := devsignin.ParseDevSignIn(u, page)
	if err != nil {
		t.Fatal(err)
	}
	f.Fields.Set("user", "alice")
	post := func() (int, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, f.Action.String(), strings.NewReader(f.Fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		status, hdr, _ := h.do(t, req)
		return status, hdr
	}
	if status, hdr := post(); status != http.StatusFound || !strings.Contains(hdr.Get("Location"), "code=") {
		t.Fatalf("first post: %d %q, want a redirect with a code", status, hdr.Get("Location"))
	}
	if status, hdr := post(); status != http.StatusForbidden || hdr.Get("Location") != "" {
		t.Errorf("second post of the same form: %d %q, want 403 and no code", status, hdr.Get("Location"))
	}
}

// The sign-in POST is checked again, then bound to its page by the CSRF
// token, refused cross-site, and must name a known user.
func TestSignInPostErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient(t, "")
	cases := map[string]struct {
		form      func(url.Values)
		header    http.Header
		advance   time.Duration
		wantPage  int
		wantError string
	}{
		"bad CSRF":          {form: func(f url.Values) { f.Set("csrf_token", "AAAA") }, wantPage: 403},
		"missing CSRF":      {form: func(f url.Values) { f.Del("csrf_token") }, wantPage: 403},
		"CSRF for another":  {form: func(f url.Values) { f.Set("state", "changed") }, wantPage: 403},
		"expired CSRF":      {advance: csrfTTL + time.Second, wantPage: 403},
		"cross-site post":   {header: http.Header{"Sec-Fetch-Site": {"cross-site"}}, wantPage: 403},
		"foreign origin":    {header: http.Header{"Origin": {"http://evil.example"}}, wantPage: 403},
		"unknown client":    {form: func(f url.Values) { f.Set("client_id", "nope") }, wantPage: 400},
		"unknown user":      {form: func(f url.Values) { f.Set("user", "eve") }, wantError: "access_denied"},
		"cancel":            {form: func(f url.Values) { f.Del("user"); f.Set("cancel", "1") }, wantError: "access_denied"},
		"PKCE removed":      {form: func(f url.Values) { f.Del("code_challenge") }, wantError: "invalid_request"},
		"resource replaced": {form: func(f url.Values) { f.Set("resource", "http://127.0.0.1:1/x") }, wantError: "invalid_target"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u := h.issuer + "/authorize?" + h.authorizeParams(c).Encode()
			_, _, page := h.get(t, u)
			f, err := devsignin.ParseDevSignIn(u, page)
			if err != nil {
				t.Fatal(err)
			}
			f.Fields.Set("user", "alice")
			if tc.form != nil {
				tc.form(f.Fields)
			}
			h.clock.advance(tc.advance)
			req, _ := http.NewRequest(http.MethodPost, f.Action.String(), strings.NewReader(f.Fields.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.header {
				req.Header[k] = v
			}
			status, hdr, body := h.do(t, req)
			if tc.wantPage != 0 {
				if status != tc.wantPage || hdr.Get("Location") != "" {
					t.Fatalf("status %d, Location %q; want page %d: %s", status, hdr.Get("Location"), tc.wantPage, body)
				}
				return
			}
			checkErrorRedirect(t, h, status, hdr, c.Redirect, tc.wantError)
		})
	}
}
