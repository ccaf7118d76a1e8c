package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRegisterAndSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := map[string]struct {
		body   string
		method string
	}{
		"public":       {body: `{"client_name":"Dyn Public","redirect_uris":["` + clientRedirect + `"],"token_endpoint_auth_method":"none"}`, method: "none"},
		"confidential": {body: `{"client_name":"Dyn Conf","redirect_uris":["` + clientRedirect + `"]}`, method: "basic"},
		"post":         {body: `{"client_name":"Dyn Post","redirect_uris":["` + clientRedirect + `"],"token_endpoint_auth_method":"client_secret_post"}`, method: "post"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			status, reg := h.registerClient(tc.body, "application/json; charset=utf-8")
			id, _ := reg["client_id"].(string)
			secret, hasSecret := reg["client_secret"].(string)
			if status != http.StatusCreated || !strings.HasPrefix(id, "mcpgate-") || hasSecret != (tc.method != "none") {
				t.Fatalf("register: %d %v", status, reg)
			}
			if hasSecret && (secret == "" || reg["client_secret_expires_at"] != float64(0)) {
				t.Errorf("register: secret %q, expires %v; want a secret that never expires", secret, reg["client_secret_expires_at"])
			}
			c := testClient{id: id, secret: secret, method: tc.method}
			b := newBrowser(t)
			ar := newAuthRequest(c, "tools:read")
			page := b.signIn(h.authorizeURL(ar), "alice")
			if !strings.Contains(page.body, "Allow "+reg["client_name"].(string)) {
				t.Errorf("consent page does not name the client:\n%s", page.body)
			}
			q := b.answerConsent(page, "allow").clientRedirectQuery(t, clientRedirect)
			h.checkCodeRedirect(q, ar)
			a := h.redeem(ar, q.Get("code"))
			a.wantTokens(t, "tools:read")
			h.checkIdentity(a.AccessToken, id, "tools:read")
			if c.secret != "" {
				c.secret = "wrong"
				h.refresh(c, a.RefreshToken).wantError(t, http.StatusUnauthorized, "invalid_client")
			}
		})
	}
	t.Cleanup(func() {
		for _, r := range h.granter.registrations() {
			if r.Method != MethodDynamic || r.RemoteAddr != "127.0.0.1" || len(r.Metadata.RedirectURIs) != 1 {
				t.Errorf("registration request %+v, want method dynamic from 127.0.0.1", r)
			}
		}
	})
}

func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	valid := `{"client_name":"X","redirect_uris":["https://x.example/cb"]}`
	tests := map[string]struct {
		body, contentType string
		status            int
		code              string
	}{
		"text":             {body: valid, contentType: "text/plain", status: 400, code: "invalid_client_metadata"},
		"form":             {body: "redirect_uris=https://x.example/cb", contentType: "application/x-www-form-urlencoded", status: 400, code: "invalid_client_metadata"},
		"malformed":        {body: `{"redirect_uris":`, status: 400, code: "invalid_client_metadata"},
		"two objects":      {body: valid + valid, status: 400, code: "invalid_client_metadata"},
		"array":            {body: `[` + valid + `]`, status: 400, code: "invalid_client_metadata"},
		"wrong field type": {body: `{"redirect_uris":"https://x.example/cb"}`, status: 400, code: "invalid_client_metadata"},
		"oversized":        {body: `{"client_name":"` + strings.Repeat("x", maxRegistration) + `","redirect_uris":["https://x.example/cb"]}`, status: 413, code: "invalid_client_metadata"},
		"client_id":        {body: `{"client_id":"mine","redirect_uris":["https://x.example/cb"]}`, status: 400, code: "invalid_client_metadata"},
		"no redirect":      {body: `{"client_name":"X"}`, status: 400, code: "invalid_redirect_uri"},
		"javascript":       {body: `{"redirect_uris":["javascript:alert(1)"]}`, status: 400, code: "invalid_redirect_uri"},
		"http":             {body: `{"redirect_uris":["http://x.example/cb"]}`, status: 400, code: "invalid_redirect_uri"},
		"implicit":         {body: `{"redirect_uris":["https://x.example/cb"],"grant_types":["implicit"]}`, status: 400, code: "invalid_client_metadata"},
		"private_key_jwt":  {body: `{"redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, status: 400, code: "invalid_client_metadata"},
		"bidi name":        {body: `{"client_name":"evil\u202egood","redirect_uris":["https://x.example/cb"]}`, status: 400, code: "invalid_client_metadata"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			status, body := h.registerClient(tc.body, ct)
			if status != tc.status || body["error"] != tc.code || body["client_id"] != nil {
				t.Errorf("register: %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	b := newBrowser(t)
	if r := b.get(h.opts.Issuer + PathRegister); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET register: %d, want 405", r.status)
	}
	for name, set := range map[string]func(g *testGranter){
		"refused": func(g *testGranter) { g.refuse = true },
		"failed":  func(g *testGranter) { g.fail = true },
	} {
		h.granter.set(set)
		status, body := h.registerClient(valid, "application/json")
		if status != http.StatusForbidden || body["error"] != "invalid_client_metadata" || body["client_id"] != nil {
			t.Errorf("register with the Granter %s: %d %v, want 403 invalid_client_metadata", name, status, body)
		}
	}
	if len(h.granter.registrations()) != 2 {
		t.Errorf("the Granter was asked %d times, want twice (only valid metadata is asked about)", len(h.granter.registrations()))
	}
	if n := h.store.written(); n != 0 {
		t.Errorf("%d records stored for refused registrations", n)
	}
	ar := newAuthRequest(testClient{id: "mcpgate-" + randomToken(18)}, "tools:read")
	ar.redirect = "https://x.example/cb"
	b.get(h.authorizeURL(ar)).wantErrorPage(t, http.StatusBadRequest, "Unknown application")
}

// TestNoOpenRedirectBeforeConsent: anyone can register a client whose
// redirect URI is their own site; an error in its authorization request
// must not turn the gateway into a redirector to that site (RFC 9700
// §4.11.2). The employee sees an error page instead; a configured client
// still gets the error at its redirect URI.
func TestNoOpenRedirectBeforeConsent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	const phish = "https://attacker.example/phish"
	status, reg := h.registerClient(`{"client_name":"Anyone","redirect_uris":["`+phish+`"],"token_endpoint_auth_method":"none"}`, "application/json")
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, reg)
	}
	ar := newAuthRequest(testClient{id: reg["client_id"].(string), method: "none"}, "tools:read")
	ar.redirect = phish
	ar.params = url.Values{"response_type": {"token"}}
	r := newBrowser(t).get(h.authorizeURL(ar))
	if loc := r.header.Get("Location"); loc != "" {
		t.Fatalf("a self-registered client's bad request redirected to %q", loc)
	}
	r.wantErrorPage(t, http.StatusBadRequest, "Authorization refused")

	static := newAuthRequest(publicClient, "tools:read")
	static.params = url.Values{"response_type": {"token"}}
	q := newBrowser(t).get(h.authorizeURL(static)).clientRedirectQuery(t, clientRedirect)
	if q.Get("error") != "unsupported_response_type" {
		t.Errorf("configured client: error %q, want unsupported_response_type at its redirect URI", q.Get("error"))
	}
}

// TestDynamicRegistrationOffRefusesRegisteredClients: switching dynamic
// registration off also refuses the clients it registered before.
func TestDynamicRegistrationOffRefusesRegisteredClients(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	status, reg := h.registerClient(`{"client_name":"Dyn","redirect_uris":["`+clientRedirect+`"],"token_endpoint_auth_method":"none"}`, "application/json")
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, reg)
	}
	id := reg["client_id"].(string)
	if _, err := h.srv.lookupClient(t.Context(), id, ""); err != nil {
		t.Fatalf("lookup with registration on: %v", err)
	}
	opts := h.srv.opts
	opts.DynamicRegistration = false
	off := h.newServer(opts)
	if _, err := off.lookupClient(t.Context(), id, ""); !errors.Is(err, errUnknownClient) {
		t.Errorf("lookup with registration off = %v, want an unknown client", err)
	}
}

// TestRegistrationRate: an address cannot register clients (records in
// the store) faster than the rate; past the burst it gets 429 and nothing
// is stored.
func TestRegistrationRate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := `{"client_name":"Flood","redirect_uris":["` + clientRedirect + `"],"token_endpoint_auth_method":"none"}`
	for i := range registerBurst {
		if status, reg := h.registerClient(body, "application/json"); status != http.StatusCreated {
			t.Fatalf("registration %d: %d %v", i, status, reg)
		}
	}
	before := h.store.written(nsClient)
	if status, reg := h.registerClient(body, "application/json"); status != http.StatusTooManyRequests || reg["error"] != "slow_down" {
		t.Errorf("registration past the burst: %d %v, want 429 slow_down", status, reg)
	}
	if n := h.store.written(nsClient); n != before {
		t.Errorf("%d registrations stored past the burst", n-before)
	}
}

// TestSignInRate: an address cannot start sign-ins (pending records in
// the store) faster than the rate.
func TestSignInRate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := newBrowser(t)
	for i := range signInBurst {
		if r := b.get(h.authorizeURL(newAuthRequest(publicClient, "tools:read"))); r.status != http.StatusFound {
			t.Fatalf("sign-in %d: %d", i, r.status)
		}
	}
	b.get(h.authorizeURL(newAuthRequest(publicClient, "tools:read"))).wantErrorPage(t, http.StatusTooManyRequests, "Too many sign-ins")
}
