package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testEnv is an env whose output is captured and whose environment holds
// only vars, so that the developer's MCPGATE_CONFIG does not leak in.
type testEnv struct {
	env
	out, err *testtools.SyncBuffer
	addrs    chan net.Addr
}

func newTestEnv(vars map[string]string) *testEnv {
	te := &testEnv{out: new(testtools.SyncBuffer), err: new(testtools.SyncBuffer), addrs: make(chan net.Addr, 1)}
	te.env = env{
		stdout:    te.out,
		stderr:    te.err,
		getenv:    func(k string) string { return vars[k] },
		listening: func(a net.Addr) { te.addrs <- a },
	}
	return te
}

// runCLI runs the command line args to completion.
func runCLI(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	te := newTestEnv(vars)
	code = runEnv(t.Context(), args, &te.env)
	return code, te.out.String(), te.err.String()
}

// running is a command started in the background that serves a gateway.
type running struct {
	*testEnv
	addr   net.Addr
	cancel context.CancelFunc
	done   chan int
}

// start runs args in the background and returns once the gateway listens.
func start(t *testing.T, te *testEnv, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{testEnv: te, cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- runEnv(ctx, args, &te.env) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	select {
	case r.addr = <-te.addrs:
	case code := <-r.done:
		r.done <- code
		t.Fatalf("%v exited with %d before listening; stderr:\n%s", args, code, te.err.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%v: not listening after 30s; stderr:\n%s", args, te.err.String())
	}
	return r
}

// stop cancels the command's context and returns its exit code.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after cancel; stderr:\n%s", r.err.String())
		return -1
	}
}

func (r *running) baseURL() string { return "http://" + r.addr.String() }

// checkGateway checks that the gateway at base serves the demo upstreams
// (notes, hr and upstreams) to
// alice, with token, as the shipped policy says (notes, not hr): her tools
// through a go-sdk client, /healthz and /readyz; and that a caller without
// a token is refused.
func checkGateway(t *testing.T, base, token string, upstreams ...string) {
	t.Helper()
	checkReady(t, base, upstreams...)
	checkHealthz(t, base)
	checkUnauthorized(t, base)
	cs := connect(t, base+"/mcp", token)
	names := toolNames(t, cs)
	if !slices.Contains(names, "notes__list_notes") || slices.Contains(names, "hr__lookup_employee") {
		t.Errorf("alice's tools %v: want notes__list_notes and no hr tool", names)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "notes__list_notes", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("call notes__list_notes = %+v, %v", res, err)
	}
}

// checkUnauthorized checks the challenge a client without a token gets.
func checkUnauthorized(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := `Bearer resource_metadata="` + base + `/.well-known/oauth-protected-resource/mcp"`
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got, want) {
		t.Errorf("no token: status %d, WWW-Authenticate %q; want 401 and %s…", resp.StatusCode, got, want)
	}
}

func connect(t *testing.T, url, token string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-cli-test", Version: "1"}, nil)
	hc := &http.Client{Transport: bearer{token}}
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// bearer sends an access token with every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		names = append(names, tool.Name)
	}
	return names
}

func checkHealthz(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: status %d, want 200", resp.StatusCode)
	}
}

// checkReady waits until /readyz reports the demo upstreams notes and hr,
// and those named, ready. serve connects upstreams in the background, so
// it may take a moment; the deadline only bounds a failing test.
func checkReady(t *testing.T, base string, upstreams ...string) {
	t.Helper()
	want := map[string]gateway.State{"notes": gateway.StateReady, "hr": gateway.StateReady}
	for _, name := range upstreams {
		want[name] = gateway.StateReady
	}
	var got map[string]gateway.State
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = upstreamStates(t, base); cmp.Equal(want, got) {
			return
		}
	}
	t.Fatalf("/readyz upstream states (-want +got):\n%s", cmp.Diff(want, got))
}

func upstreamStates(t *testing.T, base string) map[string]gateway.State {
	t.Helper()
	st := readyz(t, base)
	states := map[string]gateway.State{}
	for _, u := range st.Upstreams {
		states[u.Name] = u.State
	}
	return states
}

// readyz is the gateway's /readyz (with readyz_detail).
func readyz(t *testing.T, base string) gateway.Status {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st gateway.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /readyz: status %d, decode: %v", resp.StatusCode, err)
	}
	return st
}
