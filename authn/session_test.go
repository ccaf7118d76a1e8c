package authn

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// newSessionServer serves a go-sdk stateful handler with a whoami tool
// behind the bearer middleware.
func newSessionServer(t *testing.T, e *testEnv) *httptest.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "authn-test", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoamiOut, error) {
		id, ok := FromContext(ctx)
		if !ok {
			return nil, whoamiOut{}, fmt.Errorf("no identity in the tool context")
		}
		return nil, whoamiOut{Subject: id.Subject, UserID: req.Extra.TokenInfo.UserID}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	srv := httptest.NewServer(Middleware(e.v, MiddlewareOptions{ResourceMetadataURL: testMetadataURL})(h))
	t.Cleanup(srv.Close)
	return srv
}

// bearerTransport adds a fixed Authorization header, as an MCP client does.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

type whoamiOut struct {
	Subject string `json:"subject"`
	UserID  string `json:"user_id"`
}

// TestSessionsBoundToUser puts a real go-sdk stateful handler behind the
// middleware: a tool sees the verified identity, another user's token on the
// session is refused by the SDK (403), and a session id alone never
// authenticates (401).
func TestSessionsBoundToUser(t *testing.T) {
	var other *testIssuer
	e := newTestEnv(t, func(c *Config) {
		other = newTestIssuer(t)
		c.Issuers = append(c.Issuers, IssuerConfig{Issuer: other.URL})
	})
	srv := newSessionServer(t, e)
	alice, bob := e.token("alice", nil), e.token("bob", nil)
	client := mcp.NewClient(&mcp.Implementation{Name: "alice-client", Version: "1"}, nil)
	cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint: srv.URL, HTTPClient: &http.Client{Transport: bearerTransport{alice}}, MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil || res.IsError {
		t.Fatalf("CallTool(whoami) = %+v, %v", res, err)
	}
	want := fmt.Sprintf(`{"subject":"alice","user_id":%q}`, sessionUserID(e.iss.URL, "alice"))
	if got := mustJSON(t, res.StructuredContent); got != want {
		t.Errorf("whoami = %s, want %s", got, want)
	}

	sid := cs.ID()
	version := cs.InitializeResult().ProtocolVersion
	tests := map[string]struct {
		token  string
		status int
	}{
		"bob's token on alice's session": {bob, http.StatusForbidden},
		"another issuer's alice":         {other.sign(other.claims(e.clock, "alice", nil)), http.StatusForbidden},
		"session id without a token":     {"", http.StatusUnauthorized},
		"alice's own token":              {alice, http.StatusOK},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body := `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("MCP-Protocol-Version", version)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d (%q)", resp.StatusCode, tc.status, b)
			}
			if tc.status == http.StatusOK && !strings.Contains(string(b), "whoami") {
				t.Errorf("tools/list body %q lacks whoami", b)
			}
		})
	}
}
