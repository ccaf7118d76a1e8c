package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/dex"
)

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "mcpgate-e2e-") }

// TestDexSignIn runs `mcpgate serve` with Dex, a real OIDC provider, as its
// issuer. Dex puts the requesting client's id in aud, so the gateway accepts
// the MCP clients' client id as audience: a token Dex issued to that client
// is allowed; a token it issued to another client, for another service, is
// refused (no token passthrough, no confused deputy).
func TestDexSignIn(t *testing.T) {
	t.Parallel()
	mcpClient := dex.DexClient{ID: "mcp-clients", Secret: "mcp-clients-secret"}
	otherService := dex.DexClient{ID: "payroll-api", Secret: "payroll-secret"}
	alice := dex.DexUser{Email: "alice@example.com", Username: "alice", Password: "alice-password", Groups: []string{"engineering"}}
	dex := dex.StartDex(t, []dex.DexClient{mcpClient, otherService}, []dex.DexUser{alice})

	demos := startDemos(t)
	bin := mcpgateBinary(t)
	lib, err := filepath.Abs("../rego")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := testtools.StartListening(t, "mcpgate serve", func(addr string) *exec.Cmd {
		cfg := filepath.Join(dir, "mcpgate-"+strings.ReplaceAll(addr, ":", "_")+".yaml")
		var b strings.Builder
		fmt.Fprintf(&b, "listen: %q\npolicy: {dir: %q, decision_log: none, timeout: %s}\nauth:\n  issuers:\n    - issuer: %q\n      audiences: [%q]\nservers:\n",
			addr, lib, testPolicyTimeout, dex.Issuer, mcpClient.ID)
		for _, d := range demos {
			fmt.Fprintf(&b, "  - name: %s\n    url: %q\n    allow_insecure_http: true\n", d.Name, d.URL)
		}
		if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return exec.Command(bin, "serve", "--config", cfg, "--log-level", "debug")
	})
	endpoint := "http://" + addr + "/mcp"

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	token := dex.PasswordToken(t, mcpClient, alice.Email, alice.Password, "openid", "email", "profile", "groups")
	cs := connectWithToken(t, ctx, endpoint, token)
	eventuallyTools(t, ctx, cs, "notes__list_notes")
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "notes__list_notes"}); err != nil || res.IsError {
		t.Errorf("call with Dex token: %v %+v", err, res)
	}
	// Dex's groups claim reaches the shipped policy: engineering has no hr,
	// so alice's view has no hr tools and a call to one is answered as for a
	// tool that does not exist.
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hr__lookup_employee", Arguments: map[string]any{"id": "E1003"}}); err == nil ||
		!strings.Contains(err.Error(), `unknown tool "hr__lookup_employee"`) {
		t.Errorf("alice (engineering) calling hr: %v, want the answer for an unknown tool", err)
	}

	foreign := dex.PasswordToken(t, otherService, alice.Email, alice.Password, "openid", "email")
	status, challenge := post(t, endpoint, foreign)
	if status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Errorf("token issued to another client: status %d, WWW-Authenticate %q; want 401 invalid_token", status, challenge)
	}
	status, _ = post(t, endpoint, token)
	if status != http.StatusOK {
		t.Errorf("token issued to the MCP clients: status %d, want 200", status)
	}
}

// post sends an initialize request with token and returns the status and
// the challenge.
func post(t *testing.T, endpoint, token string) (int, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func connectWithToken(t *testing.T, ctx context.Context, endpoint, token string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearer(token)}}, nil)
	if err != nil {
		t.Fatalf("connect with a Dex token: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// eventuallyTools waits until the gateway lists tool: serve connects its
// upstreams in the background.
func eventuallyTools(t *testing.T, ctx context.Context, cs *mcp.ClientSession, tool string) {
	t.Helper()
	for ctx.Err() == nil {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(res.Tools, func(x *mcp.Tool) bool { return x.Name == tool }) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("tool %s never listed", tool)
}
