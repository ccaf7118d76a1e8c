package load

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testServer is a go-sdk server on loopback serving both eras, counting
// the calls it handles. Its tools: echo (no-op), fail (a tool error) and
// slow (sleeps slowFor). It requires "Bearer good-token" (or
// "Bearer other-token").
type testServer struct {
	URL      string
	calls    atomic.Int64
	byTool   sync.Map // tool name → *atomic.Int64
	byBearer sync.Map // Authorization header → *atomic.Int64 (every request)
}

func count(m *sync.Map, key string) {
	n, _ := m.LoadOrStore(key, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

func counted(m *sync.Map, key string) int64 {
	if n, ok := m.Load(key); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

const slowFor = 20 * time.Millisecond

func startServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{}
	s := mcp.NewServer(&mcp.Implementation{Name: "load-test"}, nil)
	schema := json.RawMessage(`{"type":"object"}`)
	tool := func(name string, h func(context.Context) *mcp.CallToolResult) {
		s.AddTool(&mcp.Tool{Name: name, InputSchema: schema}, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ts.calls.Add(1)
			count(&ts.byTool, name)
			return h(ctx), nil
		})
	}
	tool("echo", func(context.Context) *mcp.CallToolResult { return &mcp.CallToolResult{Content: []mcp.Content{}} })
	tool("fail", func(context.Context) *mcp.CallToolResult {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{}}
	})
	tool("slow", func(ctx context.Context) *mcp.CallToolResult {
		select {
		case <-time.After(slowFor):
		case <-ctx.Done():
		}
		return &mcp.CallToolResult{Content: []mcp.Content{}}
	})
	get := func(*http.Request) *mcp.Server { return s }
	stateful := mcp.NewStreamableHTTPHandler(get, nil)
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth != "Bearer good-token" && auth != "Bearer other-token" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		count(&ts.byBearer, auth)
		if r.Header.Get("Mcp-Protocol-Version") >= Version2026 {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ts.URL = "http://" + ln.Addr().String() + "/mcp"
	return ts
}

func run(t *testing.T, cfg Config) *Summary {
	t.Helper()
	s, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCount: exactly Count calls are sent, spread over sessions and
// workers, all answered, in both eras; the warmup's calls are not counted
// in the summary but reach the server.
func TestCount(t *testing.T) {
	t.Parallel()
	for _, version := range []string{Version2025, Version2026} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			s := run(t, Config{URL: srv.URL, Token: "good-token", ProtocolVersion: version, Sessions: 3, Concurrency: 4, Count: 50})
			if s.Calls != 50 || s.OK != 50 || len(s.Errors) != 0 || srv.calls.Load() != 50 {
				t.Errorf("calls %d, ok %d, errors %v, server saw %d; want 50, 50, none, 50", s.Calls, s.OK, s.Errors, srv.calls.Load())
			}
			if s.Sessions != 3 || s.Concurrency != 4 || s.Mode != "closed-loop" || s.Throughput <= 0 {
				t.Errorf("summary %+v", s)
			}
			if l := s.Latency; !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
				t.Errorf("latency percentiles out of order: %+v", l)
			}
		})
	}
}

// TestToolsAndTokensInTurn: each worker calls the tools in turn, and
// session i signs in with token i mod n; a session whose token is refused
// fails the run, naming the session.
func TestToolsAndTokensInTurn(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := run(t, Config{URL: srv.URL, Tokens: []string{"good-token", "other-token"}, Tools: []string{"echo", "fail", "echo"},
		Sessions: 2, Concurrency: 1, Count: 6})
	if s.Calls != 6 || s.OK != 4 || s.Errors["tool_error"] != 2 || s.Tool != "echo,fail,echo" {
		t.Errorf("summary %+v; want 6 calls, 4 ok, 2 tool errors, tools echo,fail,echo", s)
	}
	if e, f := counted(&srv.byTool, "echo"), counted(&srv.byTool, "fail"); e != 4 || f != 2 {
		t.Errorf("server saw echo %d, fail %d; want 4 and 2", e, f)
	}
	for _, token := range []string{"good-token", "other-token"} {
		if counted(&srv.byBearer, "Bearer "+token) == 0 {
			t.Errorf("no request signed in with %s: sessions do not take the tokens in turn", token)
		}
	}
	_, err := Run(t.Context(), Config{URL: srv.URL, Tokens: []string{"good-token", "bad"}, Sessions: 2, Count: 1, Timeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "connect session 2") {
		t.Errorf("a refused second token: err = %v, want it to name session 2", err)
	}
	if _, err := Run(t.Context(), Config{URL: srv.URL, Tools: []string{"echo", ""}, Count: 1}); err == nil || !strings.Contains(err.Error(), "tool name is empty") {
		t.Errorf("an empty tool name: err = %v", err)
	}
}

// TestErrorsCounted: failed calls are counted by kind and keep the run
// going; their latencies are left out.
func TestErrorsCounted(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := run(t, Config{URL: srv.URL, Token: "good-token", Tool: "fail", Concurrency: 2, Count: 7})
	if s.Calls != 7 || s.OK != 0 || s.Errors["tool_error"] != 7 || s.Latency != (Latency{}) {
		t.Errorf("tool errors: %+v", s)
	}
	s = run(t, Config{URL: srv.URL, Token: "good-token", ProtocolVersion: Version2026, Tool: "no_such_tool", Count: 5})
	kinds := s.ErrorKinds()
	if s.Calls != 5 || s.OK != 0 || len(kinds) != 1 || !strings.HasPrefix(kinds[0], "jsonrpc -") || s.Errors[kinds[0]] != 5 {
		t.Errorf("unknown tool: %+v", s)
	}
}

// TestWarmupNotMeasured: the warmup's calls reach the server but not the
// summary, and OnMeasure brackets exactly the measured calls.
func TestWarmupNotMeasured(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	var atStart, atEnd int64 = -1, -1
	onMeasure := func(start bool) {
		if start {
			atStart = srv.calls.Load()
		} else {
			atEnd = srv.calls.Load()
		}
	}
	s := run(t, Config{URL: srv.URL, Token: "good-token", Count: 5, Warmup: 50 * time.Millisecond, OnMeasure: onMeasure})
	if s.Calls != 5 || atStart <= 0 || atEnd-atStart != 5 {
		t.Errorf("summary calls %d (want 5); server calls when measuring started %d (want > 0: the warmup's), during %d (want 5)", s.Calls, atStart, atEnd-atStart)
	}
}

// TestFixedRateIntendedTime: with one worker and a tool slower than the
// schedule's interval, call i cannot start before i slow calls have
// finished, and its latency counts from its intended time i/rate. So the
// last of n calls has a latency of at least slowFor + (n-1)(slowFor -
// 1/rate), which a generator measuring from the actual send (coordinated
// omission) would report as about slowFor.
func TestFixedRateIntendedTime(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	const n, rate = 10, 200.0 // one call per 5 ms, each taking ≥ 20 ms
	s := run(t, Config{URL: srv.URL, Token: "good-token", Tool: "slow", Rate: rate, Count: n})
	interval := time.Duration(float64(time.Second) / rate)
	floor := ms(slowFor + (n-1)*(slowFor-interval))
	if s.Mode != "fixed-rate" || s.Calls != n || s.OK != n {
		t.Fatalf("summary %+v", s)
	}
	if s.Latency.Max < floor {
		t.Errorf("max latency %.1f ms, want ≥ %.1f ms: measured from the send, not the intended time", s.Latency.Max, floor)
	}
	if s.Latency.P50 < ms(slowFor) {
		t.Errorf("p50 %.1f ms below the tool's own %v", s.Latency.P50, slowFor)
	}
}

// TestFixedRateSchedule: a fixed-rate run of a duration schedules exactly
// rate × duration calls, each sent once.
func TestFixedRateSchedule(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := run(t, Config{URL: srv.URL, Token: "good-token", Rate: 50, Duration: 200 * time.Millisecond, Concurrency: 3})
	if s.Calls+s.Unsent != 10 || s.Unsent != 0 || srv.calls.Load() != 10 {
		t.Errorf("calls %d + unsent %d, server saw %d; want 10 + 0, 10", s.Calls, s.Unsent, srv.calls.Load())
	}
}

// TestRefused: a run that cannot start says why; nothing is measured.
func TestRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"wrong token":       {Config{URL: srv.URL, Token: "bad", Count: 1}, "connect session 1"},
		"no token":          {Config{URL: srv.URL, Count: 1}, "connect session 1"},
		"no url":            {Config{Count: 1}, "url: required"},
		"no stop":           {Config{URL: srv.URL}, "count or duration"},
		"bad version":       {Config{URL: srv.URL, Count: 1, ProtocolVersion: "2024-11-05"}, "must be 2025-11-25 or 2026-07-28"},
		"arguments array":   {Config{URL: srv.URL, Count: 1, Arguments: json.RawMessage(`[1]`)}, "arguments: must be a JSON object"},
		"arguments garbage": {Config{URL: srv.URL, Count: 1, Arguments: json.RawMessage(`{"a":`)}, "arguments: must be a JSON object"},
		"arguments null":    {Config{URL: srv.URL, Count: 1, Arguments: json.RawMessage(`null`)}, "arguments: must be a JSON object"},
		"negative":          {Config{URL: srv.URL, Count: -1, Duration: time.Second}, "must not be negative"},
		"rate too low":      {Config{URL: srv.URL, Rate: 0.5, Duration: time.Second}, "schedules no call"},
		"not mcp":           {Config{URL: strings.TrimSuffix(srv.URL, "/mcp") + "/nothing", Token: "good-token", Count: 1}, "connect session 1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c.cfg.Timeout = 5 * time.Second
			_, err := Run(t.Context(), c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	if n := srv.calls.Load(); n != 0 {
		t.Errorf("server saw %d calls from refused runs", n)
	}
}

// TestPercentiles checks the nearest-rank percentiles on known data.
func TestPercentiles(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(d)
	want := Latency{P50: 50, P90: 90, P99: 99, Max: 100, Mean: 50.5}
	if got != want {
		t.Errorf("percentiles = %+v, want %+v", got, want)
	}
	if got := percentiles([]time.Duration{7 * time.Millisecond}); got.P50 != 7 || got.P99 != 7 {
		t.Errorf("one sample: %+v", got)
	}
}
