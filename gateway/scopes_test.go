package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/rego"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestScopesByServer(t *testing.T) {
	t.Parallel()
	servers := []config.Server{{Name: "notes"}, {Name: "hr"}, {Name: "calendar"}}
	read := policy.Scope{Name: "notes:read", Server: "notes", Level: "read"}
	write := policy.Scope{Name: "notes:write", Server: "notes", Level: "write"}
	hr := policy.Scope{Name: "hr", Server: "hr", Level: "all"}
	all := policy.Scope{Name: "mcp", Server: "*", Level: "read"}
	stray := policy.Scope{Name: "gone", Server: "gone", Level: "all"}
	for name, tc := range map[string]struct {
		catalogue []policy.Scope
		want      map[string][]policy.Scope
	}{
		"no catalogue":      {nil, nil},
		"per server":        {[]policy.Scope{read, hr, write}, map[string][]policy.Scope{"notes": {read, write}, "hr": {hr}}},
		"every server":      {[]policy.Scope{read, all}, map[string][]policy.Scope{"notes": {read, all}, "hr": {all}, "calendar": {all}}},
		"an unknown server": {[]policy.Scope{stray}, map[string][]policy.Scope{}},
	} {
		got := scopesByServer(servers, tc.catalogue)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		for server, entries := range got {
			if cap(entries) != len(entries) {
				t.Errorf("%s: %s's entries can be appended to in place", name, server)
			}
		}
	}
}

// notesUpstream is the demo notes server's read_note and write_note.
func notesUpstream() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, nil)
	no := false
	ok := func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
	}
	s.AddTool(&mcp.Tool{Name: "read_note", InputSchema: emptyObject, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, ok)
	s.AddTool(&mcp.Tool{Name: "write_note", InputSchema: emptyObject, Annotations: &mcp.ToolAnnotations{DestructiveHint: &no}}, ok)
	return s
}

// TestCatalogueScopeStepUp runs the shipped library with a scope
// catalogue: a call whose token lacks a covering scope is answered 403
// insufficient_scope naming the scope to ask for (with the token's own),
// and the same call with it is forwarded.
func TestCatalogueScopeStepUp(t *testing.T) {
	t.Parallel()
	modules, data, err := rego.Library()
	if err != nil {
		t.Fatal(err)
	}
	// A generous timeout: the look ahead must not time out under -race on
	// a loaded machine (a timed-out decision denies without a challenge).
	engine := policy.NewEngine(policy.Options{Timeout: 10 * time.Second})
	if err := engine.LoadModules(modules, data); err != nil {
		t.Fatal(err)
	}
	alice := func(scopes ...string) *authn.Identity {
		return &authn.Identity{Issuer: "https://idp.test", Subject: "alice", Groups: []string{"engineering"},
			Scopes: scopes, Expiry: time.Now().Add(time.Hour)}
	}
	tokens := map[string]*authn.Identity{"read": alice("notes:read"), "write": alice("notes:write"), "none": alice()}
	mw := authn.MiddlewareOptions{ResourceMetadataURL: "http://gateway.test/.well-known/oauth-protected-resource/mcp"}
	opts := testOptions()
	opts.Authorizer = engine
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{signedInByToken(tokens)}
	opts.ScopeChallenge = func(w http.ResponseWriter, scopes []string, desc string) {
		authn.WriteInsufficientScope(w, mw, scopes, desc)
	}
	opts.Catalogue = []policy.Scope{
		{Name: "notes:read", Description: "Read your notes", Server: "notes", Level: "read"},
		{Name: "notes:write", Server: "notes", Level: "write"},
		{Name: "hr", Server: "hr", Level: "all"},
	}
	up := startUpstream(t, notesUpstream())
	gw := startGateway(t, opts, upstreamConfig("notes", up.URL))

	for name, tc := range map[string]struct {
		token, tool string
		status      int
		challenge   string // the WWW-Authenticate scope, for 403
	}{
		"write without notes:write": {"read", "notes__write_note", http.StatusForbidden, `scope="notes:read notes:write"`},
		"write without any scope":   {"none", "notes__write_note", http.StatusForbidden, `scope="notes:write"`},
		"read without any scope":    {"none", "notes__read_note", http.StatusForbidden, `scope="notes:read"`},
		"write with notes:write":    {"write", "notes__write_note", http.StatusOK, ""},
		"read with notes:read":      {"read", "notes__read_note", http.StatusOK, ""},
		"read with notes:write":     {"write", "notes__read_note", http.StatusOK, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			status, header, body := callTool(t, gw.URL, tc.token, tc.tool, map[string]any{"id": "todo"})
			if status != tc.status {
				t.Fatalf("status %d, want %d; WWW-Authenticate %q; body %s", status, tc.status, header, body)
			}
			if tc.status == http.StatusForbidden {
				if !strings.Contains(header, `error="insufficient_scope"`) || !strings.Contains(header, tc.challenge) {
					t.Errorf("WWW-Authenticate %q, want insufficient_scope with %s", header, tc.challenge)
				}
				return
			}
			var resp struct {
				Result *mcp.CallToolResult `json:"result"`
			}
			if err := json.Unmarshal(responseMessage(body), &resp); err != nil || resp.Result == nil || resp.Result.IsError {
				t.Errorf("the call was not forwarded: %s", body)
			}
		})
	}
}

// signedInByToken signs each request in as the identity its bearer token
// names.
func signedInByToken(ids map[string]*authn.Identity) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		h := signedIn(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := ids[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			if !ok {
				http.Error(w, "unknown test token", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r.WithContext(withTestIdentity(r.Context(), id)))
		})
	}
}

// callTool sends one 2026-07-28 tools/call (no session) and returns the
// status, the WWW-Authenticate header and the body.
func callTool(t *testing.T, url, token, tool string, args map[string]any) (int, string, string) {
	t.Helper()
	params, err := json.Marshal(map[string]any{"name": tool, "arguments": args, "_meta": map[string]any{
		"io.modelcontextprotocol/protocolVersion": modern, "io.modelcontextprotocol/clientCapabilities": map[string]any{},
	}})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":` + string(params) + `}`
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", modern)
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", tool)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(got)
}

// responseMessage is the JSON-RPC message answering a POST: the body of an
// application/json answer, or the first event of an event stream (the
// transport allows either).
func responseMessage(body string) []byte {
	if b := strings.TrimSpace(body); strings.HasPrefix(b, "{") {
		return []byte(b)
	}
	return firstSSEData([]byte(body))
}
