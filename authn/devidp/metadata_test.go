package devidp

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

func TestWellKnownPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	want := []string{"/.well-known/oauth-authorization-server/dev/idp", "/.well-known/openid-configuration/dev/idp"}
	if diff := cmp.Diff(want, h.p.WellKnownPaths()); diff != "" {
		t.Errorf("WellKnownPaths (-want +got):\n%s", diff)
	}
}

// Every discovery URL an MCP client or OIDC library tries yields the same
// document, accepted by go-sdk's checks (issuer, PKCE, URL schemes).
func TestDiscoveryGoSDK(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	urls := map[string]string{
		"RFC 8414 path-inserted at root": h.srv.URL + "/.well-known/oauth-authorization-server/dev/idp",
		"OIDC path-inserted at root":     h.srv.URL + "/.well-known/openid-configuration/dev/idp",
		"OIDC appended to issuer":        h.issuer + "/.well-known/openid-configuration",
		"RFC 8414 appended to issuer":    h.issuer + "/.well-known/oauth-authorization-server",
	}
	want := &oauthex.AuthServerMeta{
		Issuer:                                     h.issuer,
		AuthorizationEndpoint:                      h.issuer + "/authorize",
		TokenEndpoint:                              h.issuer + "/token",
		JWKSURI:                                    h.issuer + "/jwks",
		RegistrationEndpoint:                       h.issuer + "/register",
		ScopesSupported:                            []string{"mcp"},
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{"authorization_code"},
		TokenEndpointAuthMethodsSupported:          []string{"none", "client_secret_post", "client_secret_basic"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseIssParameterSupported: true,
	}
	for name, u := range urls {
		t.Run(name, func(t *testing.T) {
			got, err := oauthex.GetAuthServerMeta(t.Context(), u, h.issuer, nil)
			if err != nil {
				t.Fatalf("GetAuthServerMeta(%s): %v", u, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
	got, err := auth.GetAuthServerMetadata(t.Context(), h.issuer, nil)
	if err != nil || got == nil {
		t.Fatalf("auth.GetAuthServerMetadata = %v, %v", got, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("auth.GetAuthServerMetadata (-want +got):\n%s", diff)
	}
}

// The fields go-sdk's struct drops (or omits when false) are present.
func TestDiscoveryRawFields(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	status, hdr, body := h.get(t, h.issuer+"/.well-known/openid-configuration")
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", status, hdr.Get("Content-Type"))
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"authorization_response_iss_parameter_supported": true,
		"client_id_metadata_document_supported":          false,
		"id_token_signing_alg_values_supported":          []any{"RS256"},
		"subject_types_supported":                        []any{"public"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, raw[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
}

// Browser-based clients on this machine may call the endpoints a client
// calls directly; pages of other sites may not.
func TestCORSLoopbackOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/token", "/register", "/jwks"} {
		for origin, want := range map[string]string{
			"http://localhost:6274":   "http://localhost:6274",
			"http://127.0.0.1:6274":   "http://127.0.0.1:6274",
			"http://[::1]:8080":       "http://[::1]:8080",
			"https://evil.example":    "",
			"http://localhost.evil.x": "",
			"null":                    "",
		} {
			req, _ := http.NewRequest(http.MethodOptions, h.issuer+path, nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			_, hdr, _ := h.do(t, req)
			if got := hdr.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("%s from %s: Access-Control-Allow-Origin %q, want %q", path, origin, got, want)
			}
		}
	}
}

func TestDiscoveryGoOIDC(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p, err := oidc.NewProvider(t.Context(), h.issuer)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	ep := p.Endpoint()
	if ep.AuthURL != h.issuer+"/authorize" || ep.TokenURL != h.issuer+"/token" {
		t.Errorf("endpoint = %+v", ep)
	}
}

func TestMetadataMethodsAndNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := map[string]struct {
		method, url string
		want        int
	}{
		"POST metadata":     {http.MethodPost, h.issuer + "/.well-known/openid-configuration", http.StatusMethodNotAllowed},
		"OPTIONS preflight": {http.MethodOptions, h.issuer + "/token", http.StatusNoContent},
		"unknown path":      {http.MethodGet, h.issuer + "/userinfo", http.StatusNotFound},
		"GET token":         {http.MethodGet, h.issuer + "/token", http.StatusMethodNotAllowed},
		"GET register":      {http.MethodGet, h.issuer + "/register", http.StatusMethodNotAllowed},
		"DELETE authorize":  {http.MethodDelete, h.issuer + "/authorize", http.StatusMethodNotAllowed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tc.url, nil)
			if status, _, _ := h.do(t, req); status != tc.want {
				t.Errorf("status = %d, want %d", status, tc.want)
			}
		})
	}
}

// Handler also serves unstripped paths, for a caller that mounts it at the
// issuer's path without http.StripPrefix.
func TestHandlerUnstrippedPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, path := range []string{"/dev/idp/jwks", "/jwks", "/dev/idp/.well-known/openid-configuration", "/.well-known/openid-configuration/dev/idp"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = "127.0.0.1:5555"
		rec := httptest.NewRecorder()
		h.p.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d", path, rec.Code)
		}
	}
}

// With static clients the provider is an OpenID provider, and its discovery
// (read the way go-oidc reads it, under the issuer) says what OIDC Discovery
// 1.0 requires and a relying party needs.
func TestDiscoveryOpenIDProvider(t *testing.T) {
	t.Parallel()
	h := newOIDCHarness(t)
	p, err := oidc.NewProvider(t.Context(), h.issuer)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	var got struct {
		Scopes      []string `json:"scopes_supported"`
		Responses   []string `json:"response_types_supported"`
		Subjects    []string `json:"subject_types_supported"`
		Algs        []string `json:"id_token_signing_alg_values_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		Claims      []string `json:"claims_supported"`
	}
	if err := p.Claims(&got); err != nil {
		t.Fatal(err)
	}
	want := []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "azp", "client_id", "email", "name", "groups", "scope",
		"auth_time", "nonce", "at_hash", "email_verified"}
	if diff := cmp.Diff(want, got.Claims); diff != "" {
		t.Errorf("claims_supported (-want +got):\n%s", diff)
	}
	for name, c := range map[string]struct{ got, want []string }{
		"scopes_supported":                      {got.Scopes, []string{"mcp", "openid", "email", "profile"}},
		"response_types_supported":              {got.Responses, []string{"code"}},
		"subject_types_supported":               {got.Subjects, []string{"public"}},
		"id_token_signing_alg_values_supported": {got.Algs, []string{"RS256"}},
		"token_endpoint_auth_methods_supported": {got.AuthMethods, []string{"none", "client_secret_post", "client_secret_basic"}},
	} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// In authorization-server mode the gateway serves its own metadata at the
// bare root discovery paths. The provider, mounted as doc.go says, claims
// none of them and stays discoverable under its issuer and at its
// path-inserted root paths.
func TestWellKnownPathsLeaveRootToGateway(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p, err := New(Options{Issuer: srv.URL + "/dev/idp", Audience: srv.URL + "/mcp", Clients: []StaticClient{gatewayClient()},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	gatewayMeta := []byte(`{"issuer":"` + srv.URL + `"}`)
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) { writeRawJSON(w, http.StatusOK, gatewayMeta) })
	}
	mux.Handle("/dev/idp/", http.StripPrefix("/dev/idp", p.Handler()))
	for _, path := range p.WellKnownPaths() { // a claimed bare root path would panic here
		mux.Handle(path, p.Handler())
	}
	issuers := map[string]string{
		"/.well-known/oauth-authorization-server":         srv.URL,
		"/.well-known/openid-configuration":               srv.URL,
		"/.well-known/oauth-authorization-server/dev/idp": p.Issuer(),
		"/.well-known/openid-configuration/dev/idp":       p.Issuer(),
		"/dev/idp/.well-known/openid-configuration":       p.Issuer(),
	}
	for path, want := range issuers {
		var md struct{ Issuer string }
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		if err != nil || md.Issuer != want {
			t.Errorf("GET %s: issuer %q (%v), want %q", path, md.Issuer, err, want)
		}
	}
	if _, err := oidc.NewProvider(t.Context(), p.Issuer()); err != nil {
		t.Errorf("go-oidc discovery beside the gateway's metadata: %v", err)
	}
}
