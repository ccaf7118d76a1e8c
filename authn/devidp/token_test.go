package devidp

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenExchange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient(t, "")
	status, hdr, body := h.postForm(t, h.issuer+"/token", h.tokenForm(c, h.code(t, c)))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", hdr.Get("Cache-Control"))
	}
	var resp struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.TokenType != "Bearer" || resp.ExpiresIn != 3600 || resp.Scope != "mcp" {
		t.Errorf("response = %+v", resp)
	}
	claims := h.verifyClaims(t, resp.AccessToken)
	if claims["sub"] != "alice" || claims["azp"] != c.ID || claims["scope"] != "mcp" {
		t.Errorf("claims sub %v azp %v scope %v; want alice, %s, mcp", claims["sub"], claims["azp"], claims["scope"], c.ID)
	}
}

// Confidential clients authenticate exactly as they registered.
func TestTokenClientAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	post := h.newClient(t, "client_secret_post")
	basic := h.newClient(t, "client_secret_basic")
	if post.Secret == "" || basic.Secret == "" {
		t.Fatal("confidential clients got no secret")
	}
	cases := map[string]struct {
		c         registered
		auth      func(f url.Values, r *http.Request, c registered)
		wantState int
	}{
		"post ok":        {post, func(f url.Values, _ *http.Request, c registered) { f.Set("client_secret", c.Secret) }, 200},
		"post no secret": {post, func(url.Values, *http.Request, registered) {}, 401},
		"post wrong":     {post, func(f url.Values, _ *http.Request, _ registered) { f.Set("client_secret", "wrong") }, 401},
		"post via basic": {post, func(f url.Values, r *http.Request, c registered) { f.Del("client_id"); r.SetBasicAuth(c.ID, c.Secret) }, 401},
		"basic ok":       {basic, func(f url.Values, r *http.Request, c registered) { f.Del("client_id"); r.SetBasicAuth(c.ID, c.Secret) }, 200},
		"basic wrong":    {basic, func(f url.Values, r *http.Request, c registered) { r.SetBasicAuth(c.ID, "wrong") }, 401},
		"basic via post": {basic, func(f url.Values, _ *http.Request, c registered) { f.Set("client_secret", c.Secret) }, 401},
		"two methods": {basic, func(f url.Values, r *http.Request, c registered) {
			f.Set("client_secret", c.Secret)
			r.SetBasicAuth(c.ID, c.Secret)
		}, 400},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			form := h.tokenForm(tc.c, h.code(t, tc.c))
			req, _ := http.NewRequest(http.MethodPost, h.issuer+"/token", nil)
			tc.auth(form, req, tc.c)
			encoded := form.Encode()
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(encoded)), int64(len(encoded))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, hdr, body := h.do(t, req)
			if status != tc.wantState {
				t.Fatalf("status %d, want %d: %s", status, tc.wantState, body)
			}
			if status == 401 && oauthErr(t, body) != "invalid_client" {
				t.Errorf("error %s, want invalid_client", body)
			}
			if status == 401 && req.Header.Get("Authorization") != "" && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 to HTTP Basic lacks a Basic challenge")
			}
		})
	}
}

// Every broken token request gets the RFC 6749 §5.2 error it deserves.
func TestTokenErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient(t, "")
	other := h.newClient(t, "")
	cases := map[string]struct {
		edit       func(t *testing.T, f url.Values)
		wantStatus int
		wantError  string
	}{
		"wrong verifier":   {func(_ *testing.T, f url.Values) { f.Set("code_verifier", strings.Repeat("a", 43)) }, 400, "invalid_grant"},
		"missing verifier": {func(_ *testing.T, f url.Values) { f.Del("code_verifier") }, 400, "invalid_request"},
		"short verifier":   {func(_ *testing.T, f url.Values) { f.Set("code_verifier", "abc") }, 400, "invalid_request"},
		"unknown code":     {func(_ *testing.T, f url.Values) { f.Set("code", "nope") }, 400, "invalid_grant"},
		"missing code":     {func(_ *testing.T, f url.Values) { f.Del("code") }, 400, "invalid_request"},
		"expired code":     {func(*testing.T, url.Values) { h.clock.advance(codeTTL + time.Second) }, 400, "invalid_grant"},
		"wrong redirect":   {func(_ *testing.T, f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:9/other") }, 400, "invalid_grant"},
		"missing redirect": {func(_ *testing.T, f url.Values) { f.Del("redirect_uri") }, 400, "invalid_grant"},
		"wrong resource":   {func(_ *testing.T, f url.Values) { f.Set("resource", "http://127.0.0.1:1/x") }, 400, "invalid_target"},
		"unknown client":   {func(_ *testing.T, f url.Values) { f.Set("client_id", "nope") }, 401, "invalid_client"},
		"missing client":   {func(_ *testing.T, f url.Values) { f.Del("client_id") }, 401, "invalid_client"},
		"code of another client": {func(_ *testing.T, f url.Values) {
			f.Set("client_id", other.ID)
			f.Set("redirect_uri", other.Redirect)
		}, 400, "invalid_grant"},
		"password grant": {func(_ *testing.T, f url.Values) { f.Set("grant_type", "password") }, 400, "unsupported_grant_type"},
		"refresh grant":  {func(_ *testing.T, f url.Values) { f.Set("grant_type", "refresh_token") }, 400, "unsupported_grant_type"},
		"no grant type":  {func(_ *testing.T, f url.Values) { f.Del("grant_type") }, 400, "invalid_request"},
		"reused code": {func(t *testing.T, f url.Values) {
			if status, _, body := h.postForm(t, h.issuer+"/token", f); status != 200 {
				t.Fatalf("first redemption: %d %s", status, body)
			}
		}, 400, "invalid_grant"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			form := h.tokenForm(c, h.code(t, c))
			tc.edit(t, form)
			status, _, body := h.postForm(t, h.issuer+"/token", form)
			if status != tc.wantStatus || oauthErr(t, body) != tc.wantError {
				t.Errorf("got %d %s, want %d %s", status, body, tc.wantStatus, tc.wantError)
			}
		})
	}
}

// A failed redemption still burns the code: single use means single attempt.
func TestTokenCodeBurnedByFailedAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient(t, "")
	form := h.tokenForm(c, h.code(t, c))
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("code_verifier", strings.Repeat("b", 43))
	if status, _, _ := h.postForm(t, h.issuer+"/token", bad); status != 400 {
		t.Fatalf("bad attempt: status %d", status)
	}
	if status, _, body := h.postForm(t, h.issuer+"/token", form); status != 400 || oauthErr(t, body) != "invalid_grant" {
		t.Errorf("redemption after a failed attempt: %d %s, want invalid_grant", status, body)
	}
}

func TestTokenBodyLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	form := url.Values{"grant_type": {"authorization_code"}, "pad": {strings.Repeat("x", maxBodyBytes)}}
	if status, _, _ := h.postForm(t, h.issuer+"/token", form); status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", status)
	}
}
