package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// headerTransport adds fixed headers to every request a client sends, as an
// MCP client with a bearer token and a browser cookie would.
type headerTransport struct{ header http.Header }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.header {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestClientCredentialsNeverReachUpstreams(t *testing.T) {
	up := startUpstream(t, echoServer("sink", nil, nil))
	secretFile := t.TempDir() + "/token"
	if err := writeFile(secretFile, "file-secret\n"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MCPGATE_TEST_UPSTREAM_KEY", "env-secret")
	s := upstreamConfig("sink", up.URL)
	s.Headers = []config.Header{
		{Name: "X-Api-Key", ValueFromEnv: "MCPGATE_TEST_UPSTREAM_KEY"},
		{Name: "Authorization", ValueFromFile: secretFile},
	}
	gw := startGateway(t, nil, s)
	hc := &http.Client{Transport: headerTransport{http.Header{
		"Authorization":   {"Bearer client-token-for-the-gateway"},
		"Cookie":          {"session=client-cookie"},
		"X-Forwarded-For": {"10.9.8.7"},
		"X-Custom":        {"client"},
	}}}
	for name, version := range eras {
		cs := connectWith(t, gw.URL, version, nil, hc)
		if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "sink__echo"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	seen := up.seenHeaders()
	if len(seen) == 0 {
		t.Fatal("upstream saw no requests")
	}
	for _, h := range seen {
		if got := h.Get("Authorization"); got != "file-secret" {
			t.Errorf("upstream Authorization = %q, want only the configured secret", got)
		}
		if got := h.Get("X-Api-Key"); got != "env-secret" {
			t.Errorf("upstream X-Api-Key = %q", got)
		}
		for _, k := range []string{"Cookie", "X-Forwarded-For", "X-Custom"} {
			if v := h.Values(k); len(v) > 0 {
				t.Errorf("client header %s = %q reached the upstream", k, v)
			}
		}
	}
}

func writeFile(path, content string) error {
	return osWriteFile(path, []byte(content))
}

func TestRequestBodyLimit(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("up", nil, nil))
	gw := startGatewayConfig(t, nil, func(c *config.Config) {
		c.MaxRequestBytes = 64 << 10
		c.Servers = []config.Server{upstreamConfig("up", up.URL)}
	})
	big := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"up__echo","arguments":{"x":%q}}}`,
		strings.Repeat("a", 100<<10))
	cases := map[string]struct {
		chunked bool
		version string
	}{
		"content-length legacy": {false, legacy},
		"content-length 2026":   {false, modern},
		"chunked legacy":        {true, legacy},
		"chunked 2026":          {true, modern},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if tc.chunked {
				body = io.MultiReader(strings.NewReader(big)) // unknown length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, gw.URL, body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Protocol-Version", tc.version)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d (%s), want 413", resp.StatusCode, msg)
			}
			if !bytes.Contains(msg, []byte("65536")) {
				t.Errorf("body %q does not state the limit", msg)
			}
		})
	}
	// Within the limit, the same path works.
	cs := connect(t, gw.URL, legacy, nil)
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{"x": "small"}}); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("up", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("up", up.URL))
	post := func(t *testing.T, version, body string, header map[string]string) (int, string) {
		h := map[string]string{}
		if version != "" {
			h["Mcp-Protocol-Version"] = version
		}
		for k, v := range header {
			h[k] = v
		}
		return postMCP(t, gw.URL, body, h)
	}
	cases := map[string]struct {
		version, body string
		header        map[string]string
		wantStatus    int
	}{
		"not json":                   {legacy, `{"jsonrpc":`, nil, http.StatusBadRequest},
		"empty body":                 {legacy, ``, nil, http.StatusBadRequest},
		"batch (refused since 2025)": {legacy, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, nil, http.StatusBadRequest},
		"unknown session":            {legacy, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, map[string]string{"Mcp-Session-Id": "FORGED"}, http.StatusNotFound},
		"unsupported version":        {"1999-01-01", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, http.StatusBadRequest},
		"2026 header/body mismatch": {modern, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"up__echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`,
			map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "up__slow"}, http.StatusBadRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			status, body := post(t, tc.version, tc.body, tc.header)
			if status != tc.wantStatus {
				t.Errorf("status %d, want %d (body %s)", status, tc.wantStatus, body)
			}
		})
	}
	// The gateway still serves after all of that.
	cs := connect(t, gw.URL, modern, nil)
	if got := toolNames(t, cs); !slices.Contains(got, "up__echo") {
		t.Errorf("tools after malformed requests: %v", got)
	}
}

func TestNamespacingAndCollisions(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 70)
	mk := func(name string, tools ...string) *mcp.Server {
		s := mcp.NewServer(&mcp.Implementation{Name: name}, nil)
		for _, tool := range tools {
			s.AddTool(&mcp.Tool{Name: tool, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + "/" + tool}}}, nil
			})
		}
		// A tool whose input schema is not an object, which the SDK refuses
		// to register: the upstream's listing is rewritten to carry it.
		s.AddTool(&mcp.Tool{Name: "bad_schema", InputSchema: emptyObject}, nil)
		s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				res, err := next(ctx, method, req)
				if lt, ok := res.(*mcp.ListToolsResult); ok {
					for _, tool := range lt.Tools {
						if tool.Name == "bad_schema" {
							tool.InputSchema = json.RawMessage(`{"type":"string"}`)
						}
					}
				}
				return res, err
			}
		})
		return s
	}
	a := startUpstream(t, mk("a", "shared", "only_a", long))
	b := startUpstream(t, mk("b", "shared", "only_b"))
	c := startUpstream(t, mk("c", "shared"))
	gw := startGatewayConfig(t, nil, func(cfg *config.Config) {
		cfg.Naming.Separator = "."
		cfg.Servers = []config.Server{noPrefix(upstreamConfig("a", a.URL)), noPrefix(upstreamConfig("b", b.URL)), upstreamConfig("c", c.URL)}
	})
	cs := connect(t, gw.URL, legacy, nil)
	got := toolNames(t, cs)
	slices.Sort(got)
	shortened := (namer{sep: "."}).name("", long)
	want := []string{"c.shared", "only_a", "only_b", "shared", shortened}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("tools %v, want %v", got, want)
	}
	if len(shortened) != MaxNameLength {
		t.Errorf("shortened name %q has %d characters", shortened, len(shortened))
	}
	for name, wantText := range map[string]string{"shared": "a/shared", "c.shared": "c/shared", shortened: "a/" + long} {
		res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: name})
		if err != nil || textOf(t, res) != wantText {
			t.Errorf("call %s: %v %v, want %q", name, err, res, wantText)
		}
	}
	st := gw.Status()
	if len(st.Collisions) != 1 || !strings.Contains(st.Collisions[0], `tool "shared" of server "b"`) {
		t.Errorf("collisions %q, want b's shared reported", st.Collisions)
	}
	for _, u := range st.Upstreams {
		if len(u.Skipped) != 1 || !strings.Contains(u.Skipped[0], "bad_schema") {
			t.Errorf("%s skipped %q, want bad_schema reported", u.Name, u.Skipped)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("up", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("up", up.URL))
	base := strings.TrimSuffix(gw.URL, "/mcp")
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if !st.Ready || len(st.Upstreams) != 1 || st.Upstreams[0].State != StateReady || st.Upstreams[0].Tools != 2 {
		t.Errorf("readyz %+v", st)
	}
}

func TestLegacySSEUpstream(t *testing.T) {
	t.Parallel()
	srv := echoServer("old", nil, nil)
	h := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	hs := newLoopbackServer(t, h)
	s := upstreamConfig("old", hs.URL)
	s.Transport = config.TransportSSE
	gw := startGateway(t, nil, s)
	for name, version := range eras {
		cs := connect(t, gw.URL, version, nil)
		res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "old__echo", Arguments: map[string]any{"v": name}})
		if err != nil || !strings.Contains(textOf(t, res), name) {
			t.Errorf("%s: call through an HTTP+SSE upstream: %v %v", name, err, res)
		}
	}
}

// By default /readyz tells only whether the gateway is ready: it answers
// without sign-in, and upstream errors can name internal URLs.
func TestReadyzWithoutDetail(t *testing.T) {
	t.Parallel()
	gw := startGatewayConfig(t, nil, func(c *config.Config) {
		c.ReadyzDetail = false
		c.Servers = []config.Server{upstreamConfig("down", "http://127.0.0.1:1/mcp")}
	})
	resp, err := http.Get(strings.TrimSuffix(gw.URL, "/mcp") + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "{\n  \"ready\": true\n}" {
		t.Errorf("readyz: %d %s, want 200 and only {\"ready\": true}", resp.StatusCode, body)
	}
	if st := gw.Status(); len(st.Upstreams) != 1 || st.Upstreams[0].Error == "" {
		t.Errorf("Status() keeps the detail for the process itself: %+v", st)
	}
}

// A header read from a file is read again while the upstream session
// lasts: after the file is rotated, calls over the same session carry the
// new value (no reconnect); a file that disappears keeps the last value.
func TestHeaderFileRotatedWithoutReconnect(t *testing.T) {
	t.Parallel()
	up := startLegacyUpstream(t, echoServer("sink", nil, nil)) // a session to keep
	secretFile := t.TempDir() + "/key"
	if err := writeFile(secretFile, "key-1\n"); err != nil {
		t.Fatal(err)
	}
	s := upstreamConfig("sink", up.URL)
	s.Auth = &config.UpstreamAuth{Kind: config.AuthHeaders, Headers: []config.Header{{Name: "X-Api-Key", ValueFromFile: secretFile}}}
	opts := testOptions()
	opts.HeaderRecheck = time.Millisecond
	gw := startGateway(t, opts, s)
	cs := connect(t, gw.URL, legacy, nil)
	lastKey := func() string {
		seen := up.seenHeaders()
		return seen[len(seen)-1].Get("X-Api-Key")
	}
	call := func() {
		t.Helper()
		if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "sink__echo"}); err != nil {
			t.Fatal(err)
		}
	}
	call()
	if got := lastKey(); got != "key-1" {
		t.Fatalf("first call: X-Api-Key %q", got)
	}
	if err := writeFile(secretFile, "key-2\n"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); lastKey() != "key-2"; {
		if time.Now().After(deadline) {
			t.Fatalf("after rotating the file, the upstream still gets %q", lastKey())
		}
		call()
	}
	sessions := map[string]bool{}
	for _, h := range up.seenHeaders() {
		if id := h.Get("Mcp-Session-Id"); id != "" {
			sessions[id] = true
		}
	}
	if len(sessions) != 1 {
		t.Fatalf("upstream sessions %v: the rotation must not need a reconnect", sessions)
	}
	if err := os.Remove(secretFile); err != nil {
		t.Fatal(err)
	}
	call()
	call()
	if got := lastKey(); got != "key-2" {
		t.Fatalf("after the file disappeared: X-Api-Key %q, want the last value read", got)
	}
}
