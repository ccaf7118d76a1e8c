package authserver

import (
	"net/http"
	"slices"
	"testing"
)

func TestGranterErrorRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		edit  func(*Options)
		scope string
	}{
		"scopes asked":        {scope: "tools:read"},
		"no scope asked":      {scope: ""},
		"empty catalogue":     {edit: func(o *Options) { o.Scopes = nil }},
		"unknown scope asked": {scope: "unknown:scope"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.edit)
			h.granter.set(func(g *testGranter) { g.fail = true })
			ar := newAuthRequest(publicClient, tc.scope)
			q, page := h.authorize(newBrowser(t), ar, "alice")
			if page != nil {
				t.Errorf("a consent page was shown although the Granter failed:\n%s", page.body)
			}
			h.checkErrorRedirect(q, ar, "access_denied")
			if n := h.store.written(nsCode, nsConsent, nsConsentReq); n != 0 {
				t.Errorf("%d codes or consents stored", n)
			}
			if _, _, _, err := h.srv.IssueDirect(t.Context(), Subject{Sub: "alice"}, "script", nil); err == nil {
				t.Error("IssueDirect issued a token although the Granter failed")
			}
		})
	}
}

func TestGranterErrorAtRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.login(newBrowser(t), newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	h.granter.set(func(g *testGranter) { g.fail = true })
	h.refresh(publicClient, a.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
}

func TestStoreDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	status, reg := h.registerClient(`{"redirect_uris":["`+clientRedirect+`"],"token_endpoint_auth_method":"none"}`, "application/json")
	if status != http.StatusCreated {
		t.Fatalf("register: %d", status)
	}
	dyn := testClient{id: reg["client_id"].(string), method: "none"}
	a := h.login(b, newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	ar := newAuthRequest(publicClient, "tools:read")
	callback := b.signInAtIdP(h.authorizeURL(ar), "alice")
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	b.get(h.authorizeURL(newAuthRequest(publicClient, "tools:read"))).wantErrorPage(t, http.StatusServiceUnavailable, "Temporarily unavailable")
	b.get(h.authorizeURL(newAuthRequest(dyn, "tools:read"))).wantErrorPage(t, http.StatusServiceUnavailable, "Temporarily unavailable")
	b.get(callback).wantErrorPage(t, http.StatusServiceUnavailable, "Temporarily unavailable")
	newBrowser(t).get(h.opts.Issuer+PathGrants).wantErrorPage(t, http.StatusServiceUnavailable, "Temporarily unavailable")
	h.refresh(publicClient, a.RefreshToken).wantError(t, http.StatusServiceUnavailable, "temporarily_unavailable")
	h.refresh(dyn, a.RefreshToken).wantError(t, http.StatusServiceUnavailable, "temporarily_unavailable")
	h.redeem(ar, "some-code").wantError(t, http.StatusServiceUnavailable, "temporarily_unavailable")
	if status, body := h.registerClient(`{"redirect_uris":["https://x.example/cb"]}`, "application/json"); status != http.StatusServiceUnavailable || body["client_id"] != nil {
		t.Errorf("register with the store down: %d %v", status, body)
	}
}

func TestIdPDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.idp.Close()
	ar := newAuthRequest(publicClient, "tools:read")
	h.checkErrorRedirect(newBrowser(t).get(h.authorizeURL(ar)).clientRedirectQuery(t, clientRedirect), ar, "temporarily_unavailable")
	newBrowser(t).get(h.opts.Issuer+PathGrants).wantErrorPage(t, http.StatusServiceUnavailable, "Sign-in unavailable")
	if n := h.store.written(); n != 0 {
		t.Errorf("%d records stored", n)
	}
}

func TestIdPDownAtCallback(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	callback := b.signInAtIdP(h.authorizeURL(newAuthRequest(publicClient, "tools:read")), "alice")
	h.idp.Close()
	r := b.get(callback)
	r.wantErrorPage(t, http.StatusBadGateway, "Sign-in failed")
	if n := h.store.written(nsConsentReq, nsCode); n != 0 {
		t.Errorf("%d consent pages or codes stored", n)
	}
}

func TestIssueDirect(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	sub := Subject{Sub: "alice", Email: "alice@example.com", Groups: []string{"engineering"}}
	tok, granted, ttl, err := h.srv.IssueDirect(t.Context(), sub, "script", nil)
	if err != nil || !slices.Equal(granted, []string{"tools:read", "tools:write"}) || ttl != h.opts.AccessTokenTTL {
		t.Fatalf("IssueDirect = %v, %v, %v; want tools:read tools:write", granted, ttl, err)
	}
	h.checkIdentity(tok, "script", "tools:read", "tools:write")
	g := h.granter.lastGrant(t)
	if g.Reason != ReasonAuthorize || g.Endpoint != "oauth/token" || g.ClientID != "script" || len(g.Requested) != 3 {
		t.Errorf("grant request %+v, want the catalogue for script", g)
	}
	// A user granted nothing gets a token without scopes, which calls then
	// refuse (dev's /dev/token for mallory).
	if _, granted, _, err := h.srv.IssueDirect(t.Context(), sub, "script", []string{"admin"}); err != nil || len(granted) != 0 {
		t.Errorf("IssueDirect(admin) = %v, %v; want a token with no scope", granted, err)
	}
}
