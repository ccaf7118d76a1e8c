package devidp

import (
	"encoding/json"
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
