package devidp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newRefreshHarness is a provider that issues refresh tokens valid a day,
// supporting the scopes read and write.
func newRefreshHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, func(o *Options) {
		o.RefreshTokenTTL = 24 * time.Hour
		o.Scopes = []string{"read", "write"}
	})
}

// refreshClient registers a public client for the code and refresh grants.
func (h *harness) refreshClient(t *testing.T) registered {
	t.Helper()
	redirect := "http://127.0.0.1:9/callback"
	status, out := h.register(t, map[string]any{"redirect_uris": []string{redirect}, "grant_types": []string{"authorization_code", "refresh_token"}})
	if status != http.StatusCreated {
		t.Fatalf("register: status %d: %v", status, out)
	}
	if diff := cmp.Diff([]any{"authorization_code", "refresh_token"}, out["grant_types"]); diff != "" {
		t.Errorf("registered grant_types (-want +got):\n%s", diff)
	}
	return registered{ID: out["client_id"].(string), Redirect: redirect}
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

func (h *harness) tokenCall(t *testing.T, form url.Values) (int, tokenAnswer) {
	t.Helper()
	status, _, body := h.postForm(t, h.issuer+"/token", form)
	var a tokenAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("token answer %q: %v", body, err)
	}
	return status, a
}

// signInWithRefresh signs alice in for c with scopes "read write" and
// returns the first token answer.
func (h *harness) signInWithRefresh(t *testing.T, c registered) tokenAnswer {
	t.Helper()
	params := h.authorizeParams(c)
	params.Set("scope", "read write")
	form := h.tokenForm(c, h.signInCode(t, params))
	status, a := h.tokenCall(t, form)
	if status != http.StatusOK || a.RefreshToken == "" {
		t.Fatalf("code grant: status %d, %+v; want a refresh token", status, a)
	}
	return a
}

func refreshForm(c registered, tok string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}, "client_id": {c.ID}}
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	h := newRefreshHarness(t)
	c := h.refreshClient(t)
	first := h.signInWithRefresh(t, c)
	form := refreshForm(c, first.RefreshToken)
	form.Set("resource", h.audience)
	status, second := h.tokenCall(t, form)
	if status != http.StatusOK || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh: status %d, %+v; want a new access and refresh token", status, second)
	}
	claims := h.verifyClaims(t, second.AccessToken)
	if claims["sub"] != "alice" || claims["scope"] != "read write" || claims["azp"] != c.ID {
		t.Errorf("refreshed token sub %v scope %v azp %v; want alice, read write, %s", claims["sub"], claims["scope"], claims["azp"], c.ID)
	}
	// Narrowing is allowed; the family keeps its scopes.
	narrow := refreshForm(c, second.RefreshToken)
	narrow.Set("scope", "read")
	status, third := h.tokenCall(t, narrow)
	if status != http.StatusOK || third.Scope != "read" || h.verifyClaims(t, third.AccessToken)["scope"] != "read" {
		t.Fatalf("narrowing refresh: status %d, %+v", status, third)
	}
	status, fourth := h.tokenCall(t, refreshForm(c, third.RefreshToken))
	if status != http.StatusOK || fourth.Scope != "read write" {
		t.Errorf("refresh after narrowing: status %d, scope %q; want the sign-in's read write", status, fourth.Scope)
	}
}

// A rotated refresh token presented again revokes the whole sign-in.
func TestRefreshReplayRevokesFamily(t *testing.T) {
	t.Parallel()
	h := newRefreshHarness(t)
	c := h.refreshClient(t)
	first := h.signInWithRefresh(t, c)
	status, second := h.tokenCall(t, refreshForm(c, first.RefreshToken))
	if status != http.StatusOK {
		t.Fatalf("refresh: status %d, %+v", status, second)
	}
	if status, a := h.tokenCall(t, refreshForm(c, first.RefreshToken)); status != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("replay: status %d, error %q; want 400 invalid_grant", status, a.Error)
	}
	if status, a := h.tokenCall(t, refreshForm(c, second.RefreshToken)); status != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("descendant after replay: status %d, error %q; want 400 invalid_grant", status, a.Error)
	}
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	h := newRefreshHarness(t)
	c := h.refreshClient(t)
	other := h.refreshClient(t)
	codeOnly := h.newClient(t, "")
	cases := map[string]struct {
		form      func(tok string) url.Values
		wantError string
	}{
		"missing token": {func(string) url.Values { return refreshForm(c, "") }, "invalid_request"},
		"unknown token": {func(string) url.Values { return refreshForm(c, "nope") }, "invalid_grant"},
		"other client":  {func(tok string) url.Values { return refreshForm(other, tok) }, "invalid_grant"},
		"code-only":     {func(tok string) url.Values { return refreshForm(codeOnly, tok) }, "unauthorized_client"},
		"wider scope":   {func(tok string) url.Values { f := refreshForm(c, tok); f.Set("scope", "read admin"); return f }, "invalid_scope"},
		"other resource": {func(tok string) url.Values {
			f := refreshForm(c, tok)
			f.Set("resource", "http://127.0.0.1:1/other")
			return f
		}, "invalid_target"},
		"repeated token": {func(tok string) url.Values {
			f := refreshForm(c, tok)
			f["refresh_token"] = []string{tok, tok}
			return f
		}, "invalid_request"},
		"hostile token": {func(string) url.Values { return refreshForm(c, strings.Repeat("\x00'\"<", 1000)) }, "invalid_grant"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tok := h.signInWithRefresh(t, c).RefreshToken
			status, a := h.tokenCall(t, tc.form(tok))
			if status == http.StatusOK || a.Error != tc.wantError || a.AccessToken != "" {
				t.Errorf("status %d, answer %+v; want error %s", status, a, tc.wantError)
			}
		})
	}
}

// The failed attempts above spend nothing: a refresh token refused for
// another client or scope still works for its own client afterwards, and
// one past its lifetime does not.
func TestRefreshExpiryAndFailedAttempts(t *testing.T) {
	t.Parallel()
	h := newRefreshHarness(t)
	c := h.refreshClient(t)
	other := h.refreshClient(t)
	tok := h.signInWithRefresh(t, c).RefreshToken
	if status, _ := h.tokenCall(t, refreshForm(other, tok)); status != http.StatusBadRequest {
		t.Fatalf("other client: status %d, want 400", status)
	}
	status, a := h.tokenCall(t, refreshForm(c, tok))
	if status != http.StatusOK {
		t.Fatalf("own client after another's attempt: status %d, %+v", status, a)
	}
	h.clock.advance(24*time.Hour + time.Second)
	if status, a := h.tokenCall(t, refreshForm(c, a.RefreshToken)); status != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("expired: status %d, error %q; want 400 invalid_grant", status, a.Error)
	}
}

// Without RefreshTokenTTL nothing changes: no refresh tokens, the grant is
// unsupported and the metadata does not list it.
func TestRefreshOffByDefault(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient(t, "")
	status, a := h.tokenCall(t, h.tokenForm(c, h.code(t, c)))
	if status != http.StatusOK || a.RefreshToken != "" {
		t.Errorf("code grant: status %d, refresh token %q; want none", status, a.RefreshToken)
	}
	if status, a := h.tokenCall(t, refreshForm(c, "x")); status != http.StatusBadRequest || a.Error != "unsupported_grant_type" {
		t.Errorf("refresh grant: status %d, error %q; want unsupported_grant_type", status, a.Error)
	}
}

func TestRefreshMetadata(t *testing.T) {
	t.Parallel()
	h := newRefreshHarness(t)
	_, _, body := h.get(t, h.issuer+"/.well-known/oauth-authorization-server")
	var md struct {
		GrantTypes []string `json:"grant_types_supported"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"authorization_code", "refresh_token"}, md.GrantTypes); diff != "" {
		t.Errorf("grant_types_supported (-want +got):\n%s", diff)
	}
}

func TestRefreshStoreBounds(t *testing.T) {
	t.Parallel()
	s := newRefreshStore(3)
	now := time.Now()
	f := &refreshFamily{clientID: "c"}
	soonest := s.issue(f, now, time.Minute)
	var toks []string
	for range 3 {
		toks = append(toks, s.issue(f, now, time.Hour))
	}
	if len(s.m) != 3 {
		t.Fatalf("store holds %d tokens, want 3", len(s.m))
	}
	if _, oerr := s.rotate(soonest, "c", now); oerr == nil {
		t.Error("the token closest to expiry survived eviction")
	}
	for _, tok := range toks {
		if _, oerr := s.rotate(tok, "c", now); oerr != nil {
			t.Errorf("rotate: %v", oerr)
		}
	}
}

func TestTokenFor(t *testing.T) {
	t.Parallel()
	h := newRefreshHarness(t)
	tok, _, err := h.p.TokenFor("bob", &TokenOptions{Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if claims := h.verifyClaims(t, tok); claims["scope"] != "read" || claims["sub"] != "bob" {
		t.Errorf("claims scope %v sub %v; want read, bob", claims["scope"], claims["sub"])
	}
	other, _, err := h.p.TokenFor("bob", &TokenOptions{Audience: "http://127.0.0.1:1/other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.verifier(t.Context()).Verify(t.Context(), other); err == nil {
		t.Error("a token for another audience passed the resource's verifier")
	}
	if _, _, err := h.p.TokenFor("bob", &TokenOptions{Scopes: []string{"admin"}}); err == nil {
		t.Error("TokenFor minted an unsupported scope")
	}
}

// Static clients get refresh tokens when the provider issues them, and not
// otherwise (the gateway's federation today).
func TestRefreshStaticClient(t *testing.T) {
	t.Parallel()
	for ttl, want := range map[time.Duration]bool{0: false, time.Hour: true} {
		h := newHarnessWith(t, func(o *Options) { o.Clients = []StaticClient{gatewayClient()}; o.RefreshTokenTTL = ttl })
		c := gatewayClient()
		status, _, body := h.redeem(t, c, h.signInCode(t, staticParams(c)), basicAuth(c.ID, c.Secret))
		var a tokenAnswer
		if err := json.Unmarshal(body, &a); err != nil || status != http.StatusOK {
			t.Fatalf("ttl %s: status %d %s", ttl, status, body)
		}
		if (a.RefreshToken != "") != want {
			t.Errorf("ttl %s: refresh token issued %t, want %t", ttl, a.RefreshToken != "", want)
		}
	}
}
