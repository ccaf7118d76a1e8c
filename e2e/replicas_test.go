package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/postgres"
	"github.com/mcpgate/mcpgate/internal/testtools/testidp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestReplicasShareSessions runs two `mcpgate serve` processes (the real
// binary) with the same session key behind a round-robin proxy, as several
// replicas behind a Kubernetes Service without session affinity:
//
//  1. one client session's requests alternate between the replicas, each
//     serving the session the other created (sealed session ids);
//  2. the replica serving a slow call is taken out of the rotation and sent
//     SIGTERM mid-run, as Kubernetes does when it scales down: the call in
//     flight finishes on it (drain), and the same client session goes on
//     on the other replica with no error and no new initialize;
//  3. a replica without that key (here: another key) answers the session
//     with 404: the client initialises a new session there, as the spec
//     requires, and goes on.
//
// The replicas share a PostgreSQL store (started here): a session a client
// ends with DELETE on one replica is refused by the other, which never saw
// it.
func TestReplicasShareSessions(t *testing.T) {
	t.Parallel()
	bin := mcpgateBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	up := startReplicaUpstream(t)
	rr := testtools.StartRoundRobin(t)
	resource := rr.URL + "/mcp"
	idp := testidp.Start(t, resource)
	dir := t.TempDir()
	writeTestFile(t, dir, "policy/allow.rego", "package mcpgate.authz\n\ndecision := {\"allow\": true, \"reasons\": []}\n")
	shared := writeTestFile(t, dir, "shared.keys", "# replicas a and b\n"+base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n")
	other := writeTestFile(t, dir, "other.keys", base64.StdEncoding.EncodeToString([]byte("another key, another deployment!"))+"\n")
	dsn := writeTestFile(t, dir, "store.dsn", postgres.Start(t).NewDatabase(t)+"\n")

	start := func(name, keyFile string) *testtools.Server {
		srv := testtools.StartServer(t, "mcpgate serve "+name, func(addr string) *exec.Cmd {
			cfg := fmt.Sprintf(`listen: %q
public_url: %q
shutdown_grace: 30s
readyz_detail: true
session_key_file: %q
store: {kind: postgres, dsn_from_file: %q}
auth:
  issuers:
    - issuer: %q
policy: {dir: %q, decision_log: none}
servers:
  - name: up
    url: %q
    allow_insecure_http: true
    prefix: ""
    headers: [{name: X-Replica, value: %q}]
`, addr, rr.URL, keyFile, dsn, idp.Issuer(), filepath.Join(dir, "policy"), up.url, name)
			path := writeTestFile(t, dir, name+".yaml", cfg)
			return exec.Command(bin, "serve", "--config", path)
		})
		waitUpstreamReady(t, ctx, "http://"+srv.Addr)
		rr.Add("http://" + srv.Addr)
		return srv
	}
	replicas := map[string]*testtools.Server{"a": start("a", shared), "b": start("b", shared)}

	token, _, err := idp.Token("alice")
	if err != nil {
		t.Fatal(err)
	}
	var cs *mcp.ClientSession
	echo := func(text string) (string, error) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
		if err != nil {
			return "", err
		}
		if res.IsError {
			return "", fmt.Errorf("tool error: %s", text)
		}
		return res.Content[0].(*mcp.TextContent).Text, nil
	}

	// 0. A 2026-07-28 client has no session: any replica serves any request.
	// 1. A 2025-11-25 client's session is served by both replicas.
	for _, version := range []string{"2026-07-28", "2025-11-25"} {
		cs = connectVersion(t, ctx, resource, token, version)
		via := map[string]int{}
		for i := range 10 {
			got, err := echo(fmt.Sprint(i))
			if err != nil {
				t.Fatalf("%s call %d: %v", version, i, err)
			}
			_, replica, _ := strings.Cut(got, " via ")
			via[replica]++
		}
		if via["a"] == 0 || via["b"] == 0 {
			t.Fatalf("%s calls by replica = %v, want both replicas to serve the client", version, via)
		}
	}
	session := cs.ID()
	if session == "" {
		t.Fatal("the 2025-11-25 client has no session id")
	}
	if !strings.Contains(replicas["a"].Output()+replicas["b"].Output(), `"msg":"session taken over from its sealed id"`) {
		t.Error("neither replica logged taking the session over")
	}
	restored := 0
	for _, name := range []string{"a", "b"} {
		restored += scrapeCounter(t, ctx, "http://"+replicas[name].Addr+"/metrics", "mcpgate_sessions_restored_total", `outcome="ok"`)
	}
	if restored == 0 {
		t.Error(`no replica counts a take-over in mcpgate_sessions_restored_total{outcome="ok"}`)
	}

	// A session ended with DELETE at replica a is refused by replica b,
	// which never saw it.
	ended := connectVersion(t, ctx, "http://"+replicas["a"].Addr+"/mcp", token, "2025-11-25")
	endedID := ended.ID()
	if err := ended.Close(); err != nil {
		t.Fatalf("DELETE at replica a: %v", err)
	}
	if status := postWithSession(t, ctx, "http://"+replicas["b"].Addr+"/mcp", token, endedID); status != http.StatusNotFound {
		t.Errorf("session ended at replica a, used at replica b: %d, want 404", status)
	}

	// 2. Scale down mid-run: a slow call is in flight on one replica.
	slow := make(chan error, 1)
	go func() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"})
		if err == nil && (res.IsError || res.Content[0].(*mcp.TextContent).Text != "slow done") {
			err = fmt.Errorf("slow call result %+v", res)
		}
		slow <- err
	}()
	var stopping string
	select {
	case stopping = <-up.slowStarted:
	case <-ctx.Done():
		t.Fatal("the slow call never reached the upstream")
	}
	staying := map[string]string{"a": "b", "b": "a"}[stopping]
	rr.Remove("http://" + replicas[stopping].Addr)
	if err := replicas[stopping].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		got, err := echo(fmt.Sprint("after ", i))
		if err != nil {
			t.Fatalf("call %d after replica %s was stopped: %v", i, stopping, err)
		}
		if !strings.HasSuffix(got, " via "+staying) {
			t.Fatalf("call %d after replica %s was stopped answered %q", i, stopping, got)
		}
	}
	close(up.release)
	if err := <-slow; err != nil {
		t.Fatalf("the call in flight on the stopped replica %s: %v", stopping, err)
	}
	if err := replicas[stopping].Wait(ctx); err != nil {
		t.Errorf("replica %s after SIGTERM: %v\n%s", stopping, err, replicas[stopping].Output())
	}
	if cs.ID() != session {
		t.Errorf("the client's session changed from %s to %s", session, cs.ID())
	}

	// 3. The remaining replica is replaced by one with another key.
	start("c", other)
	rr.Remove("http://" + replicas[staying].Addr)
	_, err = echo("at c")
	if !errors.Is(err, mcp.ErrSessionMissing) {
		t.Fatalf("call with a session replica c cannot open: %v, want ErrSessionMissing (HTTP 404)", err)
	}
	cs = connectVersion(t, ctx, resource, token, "2025-11-25")
	if got, err := echo("again"); err != nil || got != "again via c" {
		t.Fatalf("call after initialising again: %q, %v", got, err)
	}
}

// postWithSession sends a tools/list of a 2025-11-25 session to endpoint
// and returns the status.
func postWithSession(t *testing.T, ctx context.Context, endpoint, token, session string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// connectVersion opens a client session with the gateway at endpoint in
// protocol revision version, signed in with token.
func connectVersion(t *testing.T, ctx context.Context, endpoint, token, version string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearer(token)}},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect (%s): %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		t.Fatalf("negotiated %s, want %s", got, version)
	}
	return cs
}

type replicaUpstream struct {
	url         string
	slowStarted chan string // the X-Replica of the gateway forwarding "slow"
	release     chan struct{}
}

// startReplicaUpstream serves the tools "echo" (answers "TEXT via
// REPLICA", from the gateway's X-Replica header) and "slow" (waits for
// release) on loopback.
func startReplicaUpstream(t *testing.T) *replicaUpstream {
	t.Helper()
	u := &replicaUpstream{slowStarted: make(chan string, 1), release: make(chan struct{})}
	srv := mcp.NewServer(&mcp.Implementation{Name: "replica-upstream", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(_ context.Context, req *mcp.CallToolRequest, in struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		text := in.Text + " via " + req.Extra.Header.Get("X-Replica")
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		u.slowStarted <- req.Extra.Header.Get("X-Replica")
		select {
		case <-u.release:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slow done"}}}, nil, nil
	})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	u.url = "http://" + ln.Addr().String() + "/mcp"
	return u
}

// scrapeCounter returns the value of the first sample of metric with label
// (name="value") at a Prometheus endpoint, or 0.
func scrapeCounter(t *testing.T, ctx context.Context, url, metric, label string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, metric+"{") && strings.Contains(line, label) {
			var v float64
			fields := strings.Fields(line)
			fmt.Sscan(fields[len(fields)-1], &v)
			return int(v)
		}
	}
	return 0
}

// waitUpstreamReady polls a gateway's /readyz until its upstreams are ready.
func waitUpstreamReady(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var st struct {
				Ready     bool
				Upstreams []struct{ State string }
			}
			err := json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && st.Ready && len(st.Upstreams) > 0 && st.Upstreams[0].State == "ready" {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: upstream not ready: %v", base, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeTestFile writes content to dir/name, creating directories, and
// returns the path.
func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
