package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
)

// browser returns a scripted browser: it keeps cookies and stops at every
// redirect, so the sign-in helpers decide where to go.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestDevOAuthFlow signs in to `mcpgate dev` as an MCP client does, with
// go-sdk's own OAuth client: the 401 challenge leads it to the
// protected-resource metadata, that to the gateway's authorization server,
// where it registers and runs the authorization code flow with PKCE; the
// gateway sends the scripted browser to the development provider, where it
// picks the demo user, and shows the consent page, where it allows. The
// scopes are those the shipped policy grants bob (notes:read and hr, not
// notes:write), and the token is the gateway's own.
func TestDevOAuthFlow(t *testing.T) {
	t.Parallel()
	r := start(t, newTestEnv(nil), "dev", "--addr", "127.0.0.1:0")
	var signIns atomic.Int32
	h, err := devsignin.DevOAuthHandler(browser(t), "bob", "cli test", &signIns)
	if err != nil {
		t.Fatal(err)
	}
	cs := connectOAuth(t, r.baseURL()+"/mcp", h)
	if names := toolNames(t, cs); !slices.Contains(names, "hr__lookup_employee") {
		t.Errorf("tools after sign-in: %v", names)
	}
	if res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "hr__lookup_employee", Arguments: map[string]any{"id": "E1001"}}); err != nil || res.IsError {
		t.Errorf("bob calling hr with the gateway's token: %v %+v", err, res)
	}
	if n := signIns.Load(); n != 1 {
		t.Errorf("signed in %d times, want 1", n)
	}
	got := currentToken(t, h)
	if scope, _ := got.Extra("scope").(string); !sameScopes(scope, "notes:read hr") {
		t.Errorf("granted scope %q, want the shipped policy's grant to bob: notes:read hr", scope)
	}
	if got.RefreshToken == "" {
		t.Error("no refresh token")
	}
	checkMetadata(t, r.baseURL())
}

// TestDevOAuthStepUp: alice's client asks for notes:read only; writing a
// note answers 403 insufficient_scope naming notes:write, go-sdk's client
// authorizes again for it (the policy allows engineering to write) and the
// call succeeds. Deleting a note needs notes:delete, which the policy does
// not grant alice: the step-up yields no such scope and the call stays
// refused.
func TestDevOAuthStepUp(t *testing.T) {
	t.Parallel()
	r := start(t, newTestEnv(nil), "dev", "--addr", "127.0.0.1:0")
	var signIns atomic.Int32
	cfg := devsignin.DevOAuthConfig(browser(t), "alice", "step-up test", &signIns)
	cfg.ScopeFilter = func(scopes []string) []string {
		if len(scopes) > 2 { // the metadata's scopes_supported: start small
			return []string{"notes:read"}
		}
		return scopes
	}
	h, err := auth.NewAuthorizationCodeHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs := connectOAuth(t, r.baseURL()+"/mcp", h)
	scope := func() string {
		s, _ := currentToken(t, h).Extra("scope").(string)
		return s
	}
	if s := scope(); !sameScopes(s, "notes:read") {
		t.Fatalf("first grant %q, want notes:read", s)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "notes__write_note", Arguments: map[string]any{"id": "n9", "body": "hello"}})
	if err != nil || res.IsError {
		t.Fatalf("write after the step-up: %v %+v", err, res)
	}
	if s := scope(); !sameScopes(s, "notes:read notes:write") {
		t.Errorf("after the allowed step-up: scope %q, want notes:read notes:write", s)
	}
	if n := signIns.Load(); n != 2 {
		t.Errorf("signed in %d times, want 2 (the first authorization and the step-up)", n)
	}
	_, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "notes__delete_note", Arguments: map[string]any{"id": "n9"}})
	if err == nil {
		t.Fatal("delete_note succeeded: the policy does not grant alice notes:delete")
	}
	if s := scope(); strings.Contains(s, "notes:delete") {
		t.Errorf("after the refused step-up: scope %q has notes:delete", s)
	}
}

// checkMetadata checks the protected-resource and authorization-server
// metadata of a dev gateway: the gateway is the only authorization server,
// with PKCE S256, Client ID Metadata Documents and a registration endpoint.
func checkMetadata(t *testing.T, base string) {
	t.Helper()
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		meta, err := oauthex.GetProtectedResourceMetadata(t.Context(), base+path, base+"/mcp", http.DefaultClient)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !slices.Equal(meta.AuthorizationServers, []string{base}) || slices.Contains(meta.ScopesSupported, "offline_access") {
			t.Errorf("%s: %+v", path, meta)
		}
		if !strings.HasSuffix(meta.Resource, "/mcp") {
			t.Errorf("%s: resource %q", path, meta.Resource)
		}
	}
	resp, err := http.Get(base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var as oauthex.AuthServerMeta
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatal(err)
	}
	if as.Issuer != base || !slices.Equal(as.CodeChallengeMethodsSupported, []string{"S256"}) ||
		!as.ClientIDMetadataDocumentSupported || as.RegistrationEndpoint != base+"/oauth/register" {
		t.Errorf("authorization-server metadata: %+v", as)
	}
}

// sameScopes reports whether two scope parameters name the same scopes.
func sameScopes(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// connectOAuth connects to endpoint with go-sdk's OAuth client h, which
// signs in when the gateway answers 401; the session closes with the test.
func connectOAuth(t *testing.T, endpoint string, h *auth.AuthorizationCodeHandler) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "oauth-client", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: endpoint, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect with OAuth: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// currentToken is the token h holds now.
func currentToken(t *testing.T, h *auth.AuthorizationCodeHandler) *oauth2.Token {
	t.Helper()
	ts, err := h.TokenSource(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
