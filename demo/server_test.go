package demo

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// eras maps each protocol era the servers must serve to the session options a
// client uses to reach it; nil options negotiate the newest version through
// server/discover.
func eras() map[string]*mcp.ClientSessionOptions {
	return map[string]*mcp.ClientSessionOptions{
		"2025-11-25": {ProtocolVersion: "2025-11-25"},
		"2026-07-28": nil,
	}
}

// startServer starts srv on an ephemeral port and closes it when the test ends.
func startServer(t *testing.T, name string, srv *mcp.Server) *Server {
	t.Helper()
	s, err := Start(context.Background(), name, srv, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close(%s): %v", name, err)
		}
	})
	return s
}

// connect connects c to url in the given era, checks the negotiated version,
// and closes the session when the test ends (before the server closes).
func connect(t *testing.T, c *mcp.Client, url, era string) *mcp.ClientSession {
	t.Helper()
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: url}, eras()[era])
	if err != nil {
		t.Fatalf("Connect(%s, %s): %v", url, era, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != era {
		t.Fatalf("negotiated protocol version %q, want %q", got, era)
	}
	return cs
}

func newClient(opts *mcp.ClientOptions) *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "demo-test", Version: "v0.0.0"}, opts)
}

// watchAcks returns a channel receiving every subscriptions/listen
// acknowledgement c gets. The SDK's Subscribe and list-changed listens do not
// wait for it on 2026-07-28 sessions; tests must, before causing a change.
func watchAcks(c *mcp.Client) <-chan mcp.NotificationSubscriptions {
	acks := make(chan mcp.NotificationSubscriptions, 16)
	c.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if p, ok := req.GetParams().(*mcp.SubscriptionsAcknowledgedParams); ok {
				acks <- p.Notifications
			}
			return next(ctx, method, req)
		}
	})
	return acks
}

// await returns the next value from ch, failing the test if none arrives in
// time. The bound only turns a hang into a failure; it never paces the test.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// asMap round-trips v through JSON, as a client sees structured content.
func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	var m map[string]any
	remarshal(t, v, &m)
	return m
}

// remarshal decodes the JSON encoding of from into to.
func remarshal(t *testing.T, from, to any) {
	t.Helper()
	data, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, to); err != nil {
		t.Fatal(err)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		addr         string
		wantLoopback bool // whether the error must be ErrNotLoopback
	}{
		"all interfaces":  {addr: "0.0.0.0:0", wantLoopback: true},
		"empty host":      {addr: ":0", wantLoopback: true},
		"private address": {addr: "10.0.0.1:0", wantLoopback: true},
		"other loopback":  {addr: "127.0.0.2:0", wantLoopback: true},
		"ipv6 loopback":   {addr: "[::1]:0", wantLoopback: true},
		"host name":       {addr: "localhost:0", wantLoopback: true},
		"no port":         {addr: "127.0.0.1"},
		"named port":      {addr: "127.0.0.1:http"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Start(t.Context(), "notes", NewNotes(), tt.addr)
			if err == nil {
				_ = s.Close()
				t.Fatalf("Start(%q) succeeded, want error", tt.addr)
			}
			if got := errors.Is(err, ErrNotLoopback); got != tt.wantLoopback {
				t.Errorf("Start(%q) = %v; errors.Is(ErrNotLoopback) = %t, want %t", tt.addr, err, got, tt.wantLoopback)
			}
		})
	}
}

func TestStartAll(t *testing.T) {
	t.Parallel()
	servers, err := StartAll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range servers {
		names = append(names, s.Name)
		if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || !strings.HasSuffix(s.URL, Path) {
			t.Errorf("%s: URL %q is not http://127.0.0.1:PORT%s", s.Name, s.URL, Path)
		}
		for era := range eras() {
			cs := connect(t, newClient(nil), s.URL, era)
			if got := cs.InitializeResult().ServerInfo.Name; got != s.Name {
				t.Errorf("%s (%s): server info name %q", s.Name, era, got)
			}
			_ = cs.Close()
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close(%s): %v", s.Name, err)
		}
	}
	if diff := cmp.Diff([]string{"notes", "hr"}, names); diff != "" {
		t.Errorf("StartAll names (-want +got):\n%s", diff)
	}
}

func TestHTTPEdges(t *testing.T) {
	t.Parallel()
	s := startServer(t, "notes", NewNotes())
	base := strings.TrimSuffix(s.URL, Path)
	tests := map[string]struct {
		url, host string
		want      int
	}{
		"other path":       {url: base + "/other", want: http.StatusNotFound},
		"root":             {url: base + "/", want: http.StatusNotFound},
		"rebinding host":   {url: s.URL, host: "attacker.example", want: http.StatusForbidden},
		"get without sess": {url: s.URL, want: http.StatusBadRequest},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", "text/event-stream")
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s (Host %q): status %d, want %d", tt.url, tt.host, resp.StatusCode, tt.want)
			}
		})
	}
}

// TestCloseWithOpenStreams checks that Close ends hanging streams of both
// eras (a legacy standalone SSE stream and a subscriptions/listen request)
// instead of waiting out the shutdown timeout.
func TestCloseWithOpenStreams(t *testing.T) {
	t.Parallel()
	s, err := Start(t.Context(), "notes", NewNotes(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	onChange := func(context.Context, *mcp.ResourceListChangedRequest) {}
	for era := range eras() {
		c := newClient(&mcp.ClientOptions{ResourceListChangedHandler: onChange})
		acks := watchAcks(c)
		connect(t, c, s.URL, era)
		if era >= statelessSince {
			await(t, acks, "subscriptions/listen acknowledgement")
		}
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if elapsed := time.Since(start); elapsed >= shutdownTimeout {
		t.Errorf("Close took %v, the whole shutdown timeout", elapsed)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := newClient(nil).Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: s.URL}, nil); err == nil {
		t.Error("Connect after Close succeeded")
	}
}
