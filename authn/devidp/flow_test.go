package devidp

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
)

// mountProtectedMCP adds, beside the provider, a tiny MCP server at /mcp
// protected by a test-only bearer check (go-sdk's RequireBearerToken with a
// go-oidc verifier) and its RFC 9728 metadata pointing at the provider.
func (h *harness) mountProtectedMCP(t *testing.T) {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "protected", Version: "v0.0.1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "who the caller is"},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			ti := req.Extra.TokenInfo
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: ti.UserID + " " + strings.Join(ti.Scopes, " ")}}}, nil, nil
		})
	verifier := h.verifier(context.Background())
	check := func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		idt, err := verifier.Verify(ctx, token)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
		}
		var c struct {
			Scope string `json:"scope"`
		}
		if err := idt.Claims(&c); err != nil {
			return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
		}
		return &auth.TokenInfo{UserID: idt.Subject, Scopes: strings.Fields(c.Scope), Expiration: idt.Expiry}, nil
	}
	prmPath := "/.well-known/oauth-protected-resource/mcp"
	bearer := auth.RequireBearerToken(check, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: h.srv.URL + prmPath,
		Scopes:              []string{"mcp"},
	})
	h.mux.Handle("/mcp", bearer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	h.mux.Handle(prmPath, auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:             h.audience,
		AuthorizationServers: []string{h.issuer},
		ScopesSupported:      []string{"mcp"},
	}))
}

// TestGoSDKClientFlow drives the whole flow as a real MCP client does, with
// go-sdk's AuthorizationCodeHandler: 401 → RFC 9728 → RFC 8414 discovery →
// RFC 7591 registration → authorize (the fetcher plays the browser and picks
// alice) → RFC 9207 iss check → code exchange with PKCE and resource → retry.
func TestGoSDKClientFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mountProtectedMCP(t)

	var fetches atomic.Int32
	browser := h.http // does not follow the final redirect to the client's callback
	handler, err := devsignin.DevOAuthHandler(browser, "alice", "devidp e2e test", &fetches)
	if err != nil {
		t.Fatalf("NewAuthorizationCodeHandler: %v", err)
	}

	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "v0.0.1"}, nil)
	cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: h.audience, OAuthHandler: handler}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cs.Close()

	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	if len(tools.Tools) != 1 || tools.Tools[0].Name != "whoami" {
		t.Errorf("tools = %+v, want whoami", tools.Tools)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "alice mcp" {
		t.Errorf("whoami = %q, want %q", got, "alice mcp")
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("authorization ran %d times, want 1", n)
	}
}

// A /dev/token token is accepted by the same protected server (what scripts
// and `mcpgate dev token` rely on).
func TestDevTokenAcceptedByProtectedServer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mountProtectedMCP(t)
	tok, _, err := h.p.Token("carol")
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "script", Version: "v0.0.1"}, nil)
	httpClient := &http.Client{Transport: bearerTransport{tok}}
	cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: h.audience, HTTPClient: httpClient}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "carol mcp" {
		t.Errorf("whoami = %q, want %q", got, "carol mcp")
	}
}

type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
