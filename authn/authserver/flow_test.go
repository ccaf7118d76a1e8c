package authserver

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

func TestMetadata(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		edit          func(*Options)
		register, doc bool
	}{
		"everything":              {edit: func(o *Options) { o.MetadataDocuments = true }, register: true, doc: true},
		"no dynamic registration": {edit: func(o *Options) { o.DynamicRegistration = false }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.edit)
			b := newBrowser(t)
			for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
				r := b.get(h.opts.Issuer + path)
				var m map[string]any
				if err := json.Unmarshal([]byte(r.body), &m); r.status != http.StatusOK || err != nil {
					t.Fatalf("GET %s: %d %v: %s", path, r.status, err, r.body)
				}
				iss := h.opts.Issuer
				want := map[string]any{
					"issuer": iss, "authorization_endpoint": iss + PathAuthorize, "token_endpoint": iss + PathToken,
					"jwks_uri": iss + PathJWKS, "revocation_endpoint": iss + PathRevoke,
					"code_challenge_methods_supported":               []any{"S256"},
					"response_types_supported":                       []any{"code"},
					"grant_types_supported":                          []any{"authorization_code", "refresh_token"},
					"scopes_supported":                               []any{"tools:read", "tools:write", "admin"},
					"authorization_response_iss_parameter_supported": true,
				}
				if tc.register {
					want["registration_endpoint"] = iss + PathRegister
				}
				if tc.doc {
					want["client_id_metadata_document_supported"] = true
				}
				got := map[string]any{}
				for k := range want {
					if v, ok := m[k]; ok {
						got[k] = v
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("GET %s (-want +got):\n%s", path, diff)
				}
				for _, k := range []string{"registration_endpoint", "client_id_metadata_document_supported"} {
					if _, ok := want[k]; !ok && m[k] != nil && m[k] != false {
						t.Errorf("GET %s: %s = %v, want absent", path, k, m[k])
					}
				}
			}
			if status, _ := h.registerClient(`{"redirect_uris":["https://a.example/cb"]}`, "application/json"); !tc.register && status != http.StatusNotFound {
				t.Errorf("POST %s: status %d, want 404 without dynamic registration", PathRegister, status)
			}
		})
	}
}

func TestJWKSListsEveryKey(t *testing.T) {
	t.Parallel()
	var second = newKey(t)
	h := newHarness(t, func(o *Options) { o.Keys = append(o.Keys, second) })
	r := newBrowser(t).get(h.opts.Issuer + PathJWKS)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.body), &set); r.status != http.StatusOK || err != nil {
		t.Fatalf("GET jwks: %d %v", r.status, err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("jwks has %d keys, want 2", len(set.Keys))
	}
	for i, k := range set.Keys {
		want := jose.JSONWebKey{Key: h.opts.Keys[i].Public()}
		tp, _ := want.Thumbprint(crypto.SHA256)
		if k.KeyID != base64.RawURLEncoding.EncodeToString(tp) || k.Algorithm != "ES256" || k.Use != "sig" || !k.IsPublic() {
			t.Errorf("key %d: kid %q alg %q use %q public %v, want the thumbprint, ES256, sig, public", i, k.KeyID, k.Algorithm, k.Use, k.IsPublic())
		}
	}
}

// checkIdentity verifies an access token as the gateway does and checks
// whom it names.
func (h *harness) checkIdentity(token, clientID string, scopes ...string) {
	h.t.Helper()
	id := h.verify(token)
	got := map[string]any{"sub": id.Subject, "email": id.Email, "groups": id.Groups, "scopes": id.Scopes,
		"client_id": id.ClientID, "issuer": id.Issuer, "aud": id.Audience}
	want := map[string]any{"sub": "alice", "email": "alice@example.com", "groups": []string{"engineering"},
		"scopes": scopes, "client_id": clientID, "issuer": h.opts.Issuer, "aud": []string{h.opts.Resource}}
	if diff := cmp.Diff(want, got); diff != "" {
		h.t.Errorf("access token identity (-want +got):\n%s", diff)
	}
}

func TestFlow(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]testClient{"public": publicClient, "basic": basicClient, "post": postClient} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			b := newBrowser(t)

			ar := newAuthRequest(c, "tools:read")
			page := b.signIn(h.authorizeURL(ar), "alice")
			for _, want := range []string{"Allow", "alice@example.com", "127.0.0.1", "<code>tools:read</code> — See the tools"} {
				if !strings.Contains(page.body, want) {
					t.Errorf("consent page lacks %q:\n%s", want, page.body)
				}
			}
			if strings.Contains(page.body, `class="new"`) {
				t.Errorf("a first consent page marks scopes new:\n%s", page.body)
			}
			q := b.answerConsent(page, "allow").clientRedirectQuery(t, clientRedirect)
			h.checkCodeRedirect(q, ar)
			first := h.redeem(ar, q.Get("code"))
			first.wantTokens(t, "tools:read")
			h.checkIdentity(first.AccessToken, c.id, "tools:read")
			if g := h.granter.lastGrant(t); g.Reason != ReasonAuthorize || g.Endpoint != "oauth/authorize" ||
				!slices.Equal(g.Requested, []string{"tools:read"}) || len(g.Current) != 0 {
				t.Errorf("grant request %+v, want reason authorize for tools:read", g)
			}

			// Refresh rotates; the new refresh token works, the Granter decides again.
			second := h.refresh(c, first.RefreshToken)
			second.wantTokens(t, "tools:read")
			if second.RefreshToken == first.RefreshToken {
				t.Error("refresh did not rotate the refresh token")
			}
			if g := h.granter.lastGrant(t); g.Reason != ReasonRefresh || g.Endpoint != "oauth/token" ||
				!slices.Equal(g.Current, []string{"tools:read"}) {
				t.Errorf("grant request %+v, want reason refresh", g)
			}
			h.refresh(c, second.RefreshToken).wantTokens(t, "tools:read")

			// Within what was consented: no consent page for a client that
			// proves who it is (its secret); a public loopback client can be
			// impersonated by any local program, so it is asked again.
			again := newAuthRequest(c, "tools:read")
			r := b.signIn(h.authorizeURL(again), "alice")
			if c.secret == "" {
				if r.status != http.StatusOK || !strings.Contains(r.body, "Allow Public App") {
					t.Fatalf("a public loopback client re-authorizing: %d, want the consent page again", r.status)
				}
				r = b.answerConsent(r, "allow")
			}
			h.checkCodeRedirect(r.clientRedirectQuery(t, clientRedirect), again)
			if g := h.granter.lastGrant(t); g.Reason != ReasonAuthorize || !slices.Equal(g.Current, []string{"tools:read"}) {
				t.Errorf("grant request %+v, want reason authorize with tools:read current", g)
			}

			// A step-up shows the consent page again, the new scope marked.
			up := newAuthRequest(c, "tools:read tools:write")
			page = b.signIn(h.authorizeURL(up), "alice")
			if !strings.Contains(page.body, `<code>tools:write</code> — Call tools that change things <span class="new">new</span>`) ||
				strings.Contains(page.body, `<code>tools:read</code> — See the tools <span class="new">`) {
				t.Errorf("step-up consent page does not mark tools:write (only) as new:\n%s", page.body)
			}
			if g := h.granter.lastGrant(t); g.Reason != ReasonStepUp || !slices.Equal(g.Requested, []string{"tools:read", "tools:write"}) {
				t.Errorf("grant request %+v, want reason step_up", g)
			}
			q = b.answerConsent(page, "allow").clientRedirectQuery(t, clientRedirect)
			h.checkCodeRedirect(q, up)
			h.redeem(up, q.Get("code")).wantTokens(t, "tools:read tools:write")
		})
	}
}

func TestStepUpRefusedByPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	h.login(b, newAuthRequest(basicClient, "tools:read"), "bob", "tools:read")

	// bob may not write: the step-up yields tokens without it, and no consent page
	// (nothing new would be allowed).
	up := newAuthRequest(basicClient, "tools:read tools:write")
	q, page := h.authorize(b, up, "bob")
	if page != nil {
		t.Errorf("a step-up that grants nothing new showed a consent page")
	}
	if g := h.granter.lastGrant(t); g.Reason != ReasonStepUp {
		t.Errorf("reason %q, want step_up", g.Reason)
	}
	h.checkCodeRedirect(q, up)
	h.redeem(up, q.Get("code")).wantTokens(t, "tools:read")

	// Nothing granted at all: access_denied.
	admin := newAuthRequest(publicClient, "admin")
	q, _ = h.authorize(b, admin, "bob")
	h.checkErrorRedirect(q, admin, "access_denied")
}

func TestConsentDenied(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	ar := newAuthRequest(publicClient, "")
	page := b.signIn(h.authorizeURL(ar), "alice")
	// No scope asked: the catalogue is asked for, the policy keeps what alice may have.
	if !strings.Contains(page.body, "<code>tools:write</code>") || !strings.Contains(page.body, "<code>admin</code>") {
		t.Errorf("consent page does not show the granted and refused scopes:\n%s", page.body)
	}
	h.checkErrorRedirect(b.answerConsent(page, "deny").clientRedirectQuery(t, clientRedirect), ar, "access_denied")
	if n := h.store.written(nsConsent, nsCode); n != 0 {
		t.Errorf("%d consents or codes stored after a denial", n)
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	status, reg := h.registerClient(`{"redirect_uris":["`+clientRedirect+`"],"token_endpoint_auth_method":"client_secret_basic","client_name":"Dyn"}`, "application/json")
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, reg)
	}
	dyn := testClient{id: reg["client_id"].(string), secret: reg["client_secret"].(string), method: "basic"}
	first := h.login(b, newAuthRequest(dyn, "tools:read"), "alice", "tools:read")

	h.restart()

	second := h.refresh(dyn, first.RefreshToken)
	second.wantTokens(t, "tools:read")
	h.checkIdentity(second.AccessToken, dyn.id, "tools:read")
	// The registration and the consent survived: no consent page.
	ar := newAuthRequest(dyn, "tools:read")
	h.checkCodeRedirect(b.signIn(h.authorizeURL(ar), "alice").clientRedirectQuery(t, clientRedirect), ar)
}

func TestRevocationEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.login(newBrowser(t), newAuthRequest(basicClient, "tools:read"), "alice", "tools:read")
	revoke := h.opts.Issuer + PathRevoke
	// Another client cannot revoke it; an unknown token is no error.
	for _, c := range []testClient{publicClient, basicClient} {
		if r := h.postToken(revoke, c, url.Values{"token": {"unknown"}}); r.status != http.StatusOK {
			t.Errorf("revoke an unknown token: %d, want 200", r.status)
		}
	}
	if r := h.postToken(revoke, publicClient, url.Values{"token": {a.RefreshToken}}); r.status != http.StatusOK {
		t.Errorf("revoke by another client: %d, want 200", r.status)
	}
	next := h.refresh(basicClient, a.RefreshToken)
	next.wantTokens(t, "tools:read")
	if r := h.postToken(revoke, basicClient, url.Values{"token": {next.RefreshToken}}); r.status != http.StatusOK {
		t.Errorf("revoke: %d, want 200", r.status)
	}
	h.refresh(basicClient, next.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
}

func TestIssuerWithPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.Issuer += issuerPath })
	b := newBrowser(t)
	root := strings.TrimSuffix(h.opts.Issuer, issuerPath)
	for _, path := range []string{"/.well-known/oauth-authorization-server" + issuerPath, "/.well-known/openid-configuration" + issuerPath,
		issuerPath + "/.well-known/openid-configuration"} {
		var m map[string]any
		if r := b.get(root + path); r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &m) != nil || m["issuer"] != h.opts.Issuer {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	a := h.login(b, newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	h.checkIdentity(a.AccessToken, publicClient.id, "tools:read")
	h.refresh(publicClient, a.RefreshToken).wantTokens(t, "tools:read")
	if r := b.get(h.opts.Issuer + PathJWKS); r.status != http.StatusOK {
		t.Errorf("GET jwks: %d", r.status)
	}
	if r := h.openGrants(newBrowser(t), "alice"); !strings.Contains(r.body, "Public App") {
		t.Errorf("grants page: %d %s", r.status, r.body)
	}
}

func TestConsentAccumulates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	for _, scope := range []string{"tools:read", "tools:write"} {
		if _, page := h.authorize(b, newAuthRequest(basicClient, scope), "alice"); page == nil {
			t.Fatalf("no consent page for %s", scope)
		}
	}
	for _, scope := range []string{"tools:read", "tools:write", "tools:read tools:write"} {
		if _, page := h.authorize(b, newAuthRequest(basicClient, scope), "alice"); page != nil {
			t.Errorf("consent page for %s, consented before", scope)
		}
	}
}

// TestPublicLoopbackClientConfirmsEachTime: a remembered consent is used
// silently only by a client that proves who it is; a public client with a
// loopback redirect (any local program can claim its id) gets the consent
// page at every authorization (RFC 8252 §8.6).
func TestPublicLoopbackClientConfirmsEachTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	for range 2 {
		if _, page := h.authorize(b, newAuthRequest(publicClient, "tools:read"), "alice"); page == nil {
			t.Fatal("a public loopback client got a code without the consent page")
		}
	}
}

// The consent page's headers must let a browser follow the redirect that
// ends the Allow post, and send the post with its real Origin.
func TestConsentPageHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	page := newBrowser(t).signIn(h.authorizeURL(newAuthRequest(publicClient, "tools:read")), "alice")
	csp := page.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "form-action") {
		t.Errorf("Content-Security-Policy %q restricts form-action: browsers would block the redirect to the client", csp)
	}
	if rp := page.header.Get("Referrer-Policy"); rp == "no-referrer" || rp == "" || strings.Contains(rp, "unsafe") {
		t.Errorf("Referrer-Policy %q: want one that keeps the Origin of same-origin posts and sends no URL elsewhere", rp)
	}
	if page.header.Get("X-Frame-Options") != "DENY" || page.header.Get("Cache-Control") != "no-store" {
		t.Errorf("consent page headers %v", page.header)
	}
}
