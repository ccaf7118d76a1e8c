package devidp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
)

// gatewayClient is a static client as mcpgate's authorization server
// registers itself; otherClient is a second relying party.
func gatewayClient() StaticClient {
	return StaticClient{ID: "mcpgate", Secret: "gateway-secret", RedirectURIs: []string{"http://127.0.0.1:9/oauth/callback"}, Name: "mcpgate gateway"}
}

func otherClient() StaticClient {
	return StaticClient{ID: "other-rp", Secret: "other-secret", RedirectURIs: []string{"http://127.0.0.1:9/other/callback"}}
}

// newOIDCHarness is a harness whose provider has both static clients.
func newOIDCHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, func(o *Options) { o.Clients = []StaticClient{gatewayClient(), otherClient()} })
}

// relyingParty is what mcpgate's authorization server is to the provider:
// a go-oidc and x/oauth2 relying party with a static client.
type relyingParty struct {
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// newRelyingParty discovers the provider with go-oidc, within ctx (whose
// oauth2.HTTPClient, if any, it uses), and configures c with style.
func newRelyingParty(t *testing.T, ctx context.Context, h *harness, c StaticClient, style oauth2.AuthStyle) *relyingParty {
	t.Helper()
	provider, err := oidc.NewProvider(ctx, h.issuer)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	ep := provider.Endpoint()
	ep.AuthStyle = style
	return &relyingParty{
		config: oauth2.Config{
			ClientID:     c.ID,
			ClientSecret: c.Secret,
			Endpoint:     ep,
			RedirectURL:  c.RedirectURIs[0],
			Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: c.ID, Now: h.clock.now}),
	}
}

// tokenAuthRecorder is an HTTP transport that records how each token
// request authenticated the client.
type tokenAuthRecorder struct {
	mu      sync.Mutex
	methods []string
}

func (r *tokenAuthRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, pathToken) && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		method := authNone
		if form, _ := url.ParseQuery(string(body)); form.Has("client_secret") {
			method = authPost
		}
		if _, _, ok := req.BasicAuth(); ok {
			method = authBasic
		}
		r.mu.Lock()
		r.methods = append(r.methods, method)
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestRelyingPartyFlow is the federated sign-in of mcpgate's authorization
// server, end to end with the libraries it uses: go-oidc discovery, a login
// link redirecting to the authorization URL (openid email profile, state,
// nonce, PKCE S256, no resource), the sign-in form submitted as alice, the
// code exchanged by x/oauth2 with each client authentication method, and
// the ID token verified by go-oidc.
func TestRelyingPartyFlow(t *testing.T) {
	t.Parallel()
	h := newOIDCHarness(t)
	cases := map[string]struct {
		style oauth2.AuthStyle
		want  []string // authentication methods of the token requests
	}{
		"client_secret_basic": {oauth2.AuthStyleInHeader, []string{authBasic}},
		"client_secret_post":  {oauth2.AuthStyleInParams, []string{authPost}},
		"auto-detect":         {oauth2.AuthStyleAutoDetect, []string{authBasic}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := &tokenAuthRecorder{}
			ctx := oidc.ClientContext(t.Context(), &http.Client{Transport: rec})
			rp := newRelyingParty(t, ctx, h, gatewayClient(), tc.style)
			verifier, nonce, state := oauth2.GenerateVerifier(), rand.Text(), rand.Text()
			authURL := rp.config.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
			login := "/rp/login/" + name
			h.mux.Handle(login, http.RedirectHandler(authURL, http.StatusFound))

			loc, err := devsignin.DevSignIn(ctx, h.http, h.srv.URL+login, "alice")
			if err != nil {
				t.Fatalf("sign in: %v", err)
			}
			q := loc.Query()
			if !strings.HasPrefix(loc.String(), rp.config.RedirectURL+"?") || q.Get("state") != state || q.Get("iss") != h.issuer {
				t.Fatalf("redirect %s: want %s with state and iss", loc, rp.config.RedirectURL)
			}
			tok, err := rp.config.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if diff := cmp.Diff(tc.want, rec.methods); diff != "" {
				t.Errorf("client authentication (-want +got):\n%s", diff)
			}
			checkIDToken(t, rp, tok, nonce)
			// The access token is the provider's usual kind, for the gateway.
			if claims := h.verifyClaims(t, tok.AccessToken); claims["azp"] != "mcpgate" || claims["sub"] != "alice" {
				t.Errorf("access token azp %v sub %v, want mcpgate and alice", claims["azp"], claims["sub"])
			}
		})
	}
}

// checkIDToken verifies tok's ID token as the relying party does and checks
// its claims for alice.
func checkIDToken(t *testing.T, rp *relyingParty, tok *oauth2.Token, nonce string) {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Errorf("nonce %q, want the request's %q", idt.Nonce, nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	type userClaims struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		Name          string   `json:"name"`
		Groups        []string `json:"groups"`
		AuthTime      int64    `json:"auth_time"`
	}
	var claims userClaims
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.AuthTime == 0 || claims.AuthTime > idt.IssuedAt.Unix() {
		t.Errorf("auth_time %d, want the sign-in, not after iat %d", claims.AuthTime, idt.IssuedAt.Unix())
	}
	claims.AuthTime = 0
	want := userClaims{"alice@example.com", true, "alice", []string{"engineering"}, 0}
	if idt.Subject != "alice" || !cmp.Equal(idt.Audience, []string{rp.config.ClientID}) {
		t.Errorf("sub %q aud %v, want alice and [%s]", idt.Subject, idt.Audience, rp.config.ClientID)
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("ID token claims (-want +got):\n%s", diff)
	}
}

// staticParams are authorization request parameters of the static client c
// as a relying party sends them: openid email profile, nonce, PKCE, no
// resource.
func staticParams(c StaticClient) url.Values {
	return url.Values{
		"client_id":             {c.ID},
		"redirect_uri":          {c.RedirectURIs[0]},
		"response_type":         {"code"},
		"state":                 {"st-123"},
		"nonce":                 {"n-0S6_WzA2Mj"},
		"code_challenge":        {s256(testVerifier)},
		"code_challenge_method": {"S256"},
		"scope":                 {"openid email profile"},
	}
}

// redeem posts a token request for code with c's redirect URI, the test
// verifier and extra fields, authenticated by auth.
func (h *harness) redeem(t *testing.T, c StaticClient, code string, auth func(url.Values, *http.Request)) (int, http.Header, []byte) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {testVerifier}}
	req, _ := http.NewRequest(http.MethodPost, h.issuer+"/token", nil)
	auth(form, req)
	encoded := form.Encode()
	req.Body, req.ContentLength = io.NopCloser(strings.NewReader(encoded)), int64(len(encoded))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(t, req)
}

func basicAuth(id, secret string) func(url.Values, *http.Request) {
	return func(_ url.Values, r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

func postAuth(id, secret string) func(url.Values, *http.Request) {
	return func(f url.Values, _ *http.Request) {
		f.Set("client_id", id)
		if secret != "" {
			f.Set("client_secret", secret)
		}
	}
}

// Hostile token requests for a code issued to the gateway's static client.
func TestStaticClientTokenErrors(t *testing.T) {
	t.Parallel()
	h := newOIDCHarness(t)
	gw, other := gatewayClient(), otherClient()
	cases := map[string]struct {
		client     StaticClient // whose redirect URI the request names
		auth       func(url.Values, *http.Request)
		before     func(t *testing.T, code string)
		edit       func(url.Values)
		wantStatus int
		wantError  string
	}{
		"wrong secret, basic": {client: gw, auth: basicAuth(gw.ID, "wrong"), wantStatus: 401, wantError: "invalid_client"},
		"wrong secret, post":  {client: gw, auth: postAuth(gw.ID, "wrong"), wantStatus: 401, wantError: "invalid_client"},
		"no secret":           {client: gw, auth: postAuth(gw.ID, ""), wantStatus: 401, wantError: "invalid_client"},
		"secret of another":   {client: gw, auth: basicAuth(gw.ID, other.Secret), wantStatus: 401, wantError: "invalid_client"},
		"unknown client":      {client: gw, auth: basicAuth("nobody", gw.Secret), wantStatus: 401, wantError: "invalid_client"},
		"redeemed by another client": {client: gw, auth: basicAuth(other.ID, other.Secret),
			wantStatus: 400, wantError: "invalid_grant"},
		"redeemed by another client at its redirect URI": {client: other, auth: postAuth(other.ID, other.Secret),
			wantStatus: 400, wantError: "invalid_grant"},
		"code reused": {client: gw, auth: basicAuth(gw.ID, gw.Secret), before: func(t *testing.T, code string) {
			if status, _, body := h.redeem(t, gw, code, basicAuth(gw.ID, gw.Secret)); status != 200 {
				t.Fatalf("first redemption: %d %s", status, body)
			}
		}, wantStatus: 400, wantError: "invalid_grant"},
		"no verifier":     {client: gw, auth: basicAuth(gw.ID, gw.Secret), edit: func(f url.Values) { f.Del("code_verifier") }, wantStatus: 400, wantError: "invalid_request"},
		"wrong verifier":  {client: gw, auth: basicAuth(gw.ID, gw.Secret), edit: func(f url.Values) { f.Set("code_verifier", strings.Repeat("v", 43)) }, wantStatus: 400, wantError: "invalid_grant"},
		"wrong resource":  {client: gw, auth: basicAuth(gw.ID, gw.Secret), edit: func(f url.Values) { f.Set("resource", "http://127.0.0.1:1/x") }, wantStatus: 400, wantError: "invalid_target"},
		"wrong redirect":  {client: gw, auth: basicAuth(gw.ID, gw.Secret), edit: func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:9/x") }, wantStatus: 400, wantError: "invalid_grant"},
		"refresh request": {client: gw, auth: basicAuth(gw.ID, gw.Secret), edit: func(f url.Values) { f.Set("grant_type", "refresh_token") }, wantStatus: 400, wantError: "unsupported_grant_type"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code := h.signInCode(t, staticParams(gw))
			if tc.before != nil {
				tc.before(t, code)
			}
			auth := tc.auth
			if tc.edit != nil {
				auth = func(f url.Values, r *http.Request) { tc.auth(f, r); tc.edit(f) }
			}
			status, hdr, body := h.redeem(t, tc.client, code, auth)
			if status != tc.wantStatus || oauthErr(t, body) != tc.wantError {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.wantStatus, tc.wantError)
			}
			if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 without a Basic challenge: WWW-Authenticate %q", hdr.Get("WWW-Authenticate"))
			}
		})
	}
}

// Authorization requests of a static client: errors before its redirect URI
// is established are a page (no redirect happens), later ones go to it.
func TestStaticClientAuthorizeErrors(t *testing.T) {
	t.Parallel()
	h := newOIDCHarness(t)
	gw, other := gatewayClient(), otherClient()
	cases := map[string]struct {
		edit      func(url.Values)
		wantPage  int    // status of a page, or 0 for an error redirect
		wantError string // error parameter of the redirect
	}{
		"unknown client":              {edit: func(v url.Values) { v.Set("client_id", "nobody") }, wantPage: 400},
		"redirect_uri not registered": {edit: func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9/evil") }, wantPage: 400},
		"redirect_uri of another":     {edit: func(v url.Values) { v.Set("redirect_uri", other.RedirectURIs[0]) }, wantPage: 400},
		"missing PKCE":                {edit: func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, wantError: "invalid_request"},
		"plain PKCE":                  {edit: func(v url.Values) { v.Set("code_challenge_method", "plain") }, wantError: "invalid_request"},
		"wrong resource":              {edit: func(v url.Values) { v.Set("resource", "http://127.0.0.1:1/x") }, wantError: "invalid_target"},
		"nonce too long":              {edit: func(v url.Values) { v.Set("nonce", strings.Repeat("n", maxNonceLen+1)) }, wantError: "invalid_request"},
		"only unknown scopes":         {edit: func(v url.Values) { v.Set("scope", "offline_access") }, wantError: "invalid_scope"},
		"no resource is fine":         {edit: func(url.Values) {}, wantPage: 200},
		"right resource is fine":      {edit: func(v url.Values) { v.Set("resource", h.audience) }, wantPage: 200},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			q := staticParams(gw)
			tc.edit(q)
			checkAuthorizeAnswer(t, h, q, gw.RedirectURIs[0], tc.wantPage, tc.wantError)
		})
	}
}

// The ID token: only for "openid", with the request's nonce or none, typed
// apart from access tokens, and never accepted where an access token is.
func TestIDToken(t *testing.T) {
	t.Parallel()
	h := newOIDCHarness(t)
	gw := gatewayClient()
	exchange := func(t *testing.T, edit func(url.Values)) tokenResponse {
		t.Helper()
		q := staticParams(gw)
		edit(q)
		status, _, body := h.redeem(t, gw, h.signInCode(t, q), basicAuth(gw.ID, gw.Secret))
		if status != 200 {
			t.Fatalf("token: %d %s", status, body)
		}
		var resp tokenResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	t.Run("no openid, no ID token", func(t *testing.T) {
		if resp := exchange(t, func(v url.Values) { v.Set("scope", "mcp email") }); resp.IDToken != "" || resp.Scope != "mcp email" {
			t.Errorf("scope %q, ID token %q; want mcp email and none", resp.Scope, resp.IDToken)
		}
	})
	t.Run("no nonce requested, none echoed", func(t *testing.T) {
		resp := exchange(t, func(v url.Values) { v.Del("nonce") })
		if claims := unverifiedClaims(t, resp.IDToken); claims["nonce"] != nil {
			t.Errorf("nonce %v, want none", claims["nonce"])
		}
	})
	t.Run("typed and audienced apart", func(t *testing.T) {
		resp := exchange(t, func(url.Values) {})
		if got := tokenType(t, resp.IDToken); got != "JWT" {
			t.Errorf("ID token typ %q, want JWT", got)
		}
		if got := tokenType(t, resp.AccessToken); got != "at+jwt" {
			t.Errorf("access token typ %q, want at+jwt", got)
		}
		if claims := unverifiedClaims(t, resp.IDToken); claims["nonce"] != "n-0S6_WzA2Mj" || claims["aud"] != gw.ID {
			t.Errorf("nonce %v aud %v, want the request's and %s", claims["nonce"], claims["aud"], gw.ID)
		}
		if _, err := h.verifier(t.Context()).Verify(t.Context(), resp.IDToken); err == nil {
			t.Error("the gateway's verifier accepted an ID token as an access token")
		}
	})
}

// The sign-in form binds the nonce: one changed on the way is refused.
func TestSignInBindsNonce(t *testing.T) {
	t.Parallel()
	h := newOIDCHarness(t)
	u := h.issuer + "/authorize?" + staticParams(gatewayClient()).Encode()
	_, _, page := h.get(t, u)
	f, err := devsignin.ParseDevSignIn(u, page)
	if err != nil {
		t.Fatal(err)
	}
	f.Fields.Set("user", "alice")
	f.Fields.Set("nonce", "attacker-nonce")
	status, hdr, _ := h.postForm(t, f.Action.String(), f.Fields)
	if status != http.StatusForbidden || hdr.Get("Location") != "" {
		t.Errorf("status %d, Location %q; want 403 and no code", status, hdr.Get("Location"))
	}
}

// Without static clients the provider is no OpenID provider: "openid" is
// dropped like any unsupported scope and no ID token is issued.
func TestNoIDTokenWithoutStaticClients(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient(t, "")
	q := h.authorizeParams(c)
	q.Set("scope", "openid mcp")
	status, _, body := h.postForm(t, h.issuer+"/token", h.tokenForm(c, h.signInCode(t, q)))
	var resp tokenResponse
	if err := json.Unmarshal(body, &resp); status != 200 || err != nil {
		t.Fatalf("token: %d %s", status, body)
	}
	if resp.IDToken != "" || resp.Scope != "mcp" {
		t.Errorf("scope %q, ID token %q; want mcp and none", resp.Scope, resp.IDToken)
	}
}

// tokenType returns the "typ" header of a compact JWS.
func tokenType(t *testing.T, tok string) string {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse %q: %v", tok, err)
	}
	typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string)
	return typ
}

// unverifiedClaims decodes a JWT's claims without checking its signature.
func unverifiedClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse %q: %v", tok, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
