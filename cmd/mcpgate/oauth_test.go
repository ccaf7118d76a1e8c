package main

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
)

// TestDevOAuthFlow signs in to `mcpgate dev` as an MCP client does, with
// go-sdk's own OAuth client: the 401 challenge leads it to the
// protected-resource metadata, that to the development provider, where it
// registers, runs the authorization code flow with PKCE (a scripted browser
// picks the demo user) and gets a token the gateway accepts.
func TestDevOAuthFlow(t *testing.T) {
	t.Parallel()
	r := start(t, newTestEnv(nil), "dev", "--addr", "127.0.0.1:0")
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var signIns atomic.Int32
	h, err := devsignin.DevOAuthHandler(browser, "bob", "cli test", &signIns)
	if err != nil {
		t.Fatal(err)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "oauth-client", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: r.baseURL() + "/mcp", OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect with OAuth: %v", err)
	}
	defer cs.Close()
	if names := toolNames(t, cs); !slices.Contains(names, "hr__lookup_employee") {
		t.Errorf("tools after sign-in: %v", names)
	}
	if n := signIns.Load(); n != 1 {
		t.Errorf("signed in %d times, want 1", n)
	}
	checkMetadata(t, r.baseURL())
}

// checkMetadata checks the protected-resource metadata of a dev gateway.
func checkMetadata(t *testing.T, base string) {
	t.Helper()
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		meta, err := oauthex.GetProtectedResourceMetadata(t.Context(), base+path, base+"/mcp", http.DefaultClient)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !slices.Equal(meta.AuthorizationServers, []string{base + "/dev/idp"}) || slices.Contains(meta.ScopesSupported, "offline_access") {
			t.Errorf("%s: %+v", path, meta)
		}
		if !strings.HasSuffix(meta.Resource, "/mcp") {
			t.Errorf("%s: resource %q", path, meta.Resource)
		}
	}
}
