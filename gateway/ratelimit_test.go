package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// countingEcho is an upstream with tools a and b, counting the calls that
// reach it.
func countingEcho(name string, calls *atomic.Int64) *mcp.Server {
	s := echoServer(name, nil, nil)
	for _, tool := range []string{"a", "b"} {
		s.AddTool(&mcp.Tool{Name: tool, InputSchema: emptyObject}, func(_ context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			calls.Add(1)
			return &mcp.CallToolResult{}, nil
		})
	}
	return s
}

// rateGateway serves upstreams one and two (tools a and b each) with the
// rate limits rules, employees told apart by X-Test-User.
func rateGateway(t *testing.T, rules []config.RateLimit) (*testGateway, *atomic.Int64, *atomic.Int64, *sdkmetric.ManualReader) {
	t.Helper()
	return rateGatewayAs(t, rules, signedInByHeader)
}

// rateGatewayAs is rateGateway with the callers signIn makes.
func rateGatewayAs(t *testing.T, rules []config.RateLimit, signIn func(http.Handler) http.Handler) (*testGateway, *atomic.Int64, *atomic.Int64, *sdkmetric.ManualReader) {
	t.Helper()
	var one, two atomic.Int64
	up1 := startUpstream(t, countingEcho("one", &one))
	up2 := startUpstream(t, countingEcho("two", &two))
	opts, _, reader := observedOptions(t)
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{signIn}
	gw := startGatewayConfig(t, opts, func(c *config.Config) {
		c.Servers = []config.Server{upstreamConfig("one", up1.URL), upstreamConfig("two", up2.URL)}
		c.Limits.Rate = rules
	})
	return gw, &one, &two, reader
}

// call2026 makes one 2026-07-28 request as user: HTTP status, Retry-After,
// body.
func call2026(t *testing.T, gw *testGateway, user, method, name string) (int, string, string) {
	t.Helper()
	params := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},` +
		`"io.modelcontextprotocol/clientInfo":{"name":"test-client","version":"1"}}`
	h := map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": method, "X-Test-User": user}
	if name != "" {
		params = fmt.Sprintf(`"name":%q,"arguments":{},`, name) + params
		h["Mcp-Name"] = name
	}
	status, header, body := postMCPHeader(t, gw.URL, `{"jsonrpc":"2.0","id":7,"method":"`+method+`","params":{`+params+`}}`, h)
	return status, header.Get("Retry-After"), body
}

// limitsRefused is mcpgate.limits.enforced{action=refused} by limit.
func limitsRefused(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "mcpgate.limits.enforced" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				limit, _ := dp.Attributes.Value("limit")
				action, _ := dp.Attributes.Value("action")
				if action.AsString() == telemetry.LimitActionRefused {
					out[limit.AsString()] += dp.Value
				}
			}
		}
	}
	return out
}

func checkRefused(t *testing.T, what string, status int, retry, body string) {
	t.Helper()
	if status != http.StatusTooManyRequests {
		t.Errorf("%s: HTTP %d %s, want 429", what, status, body)
		return
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 1 {
		t.Errorf("%s: Retry-After %q, want whole seconds", what, retry)
	}
	if !strings.Contains(body, `"id":7`) || !strings.Contains(body, "too many requests") || !strings.Contains(body, "limits.rate") {
		t.Errorf("%s: body %s", what, body)
	}
}

func checkServed(t *testing.T, what string, status int, body string) {
	t.Helper()
	if status != http.StatusOK || strings.Contains(body, "too many requests") {
		t.Errorf("%s: HTTP %d %s, want served", what, status, body)
	}
}

// Per user: a user's requests beyond the burst are answered 429 with
// Retry-After; another user is not affected; the refusal is counted.
func TestRateLimitPerUser(t *testing.T) {
	gw, _, _, reader := rateGateway(t, []config.RateLimit{{Per: config.RatePerUser, RequestsPerMinute: 1, Burst: 3}})
	for i := range 3 {
		status, _, body := call2026(t, gw, "alice", "tools/list", "")
		checkServed(t, fmt.Sprintf("alice's request %d", i+1), status, body)
	}
	status, retry, body := call2026(t, gw, "alice", "tools/list", "")
	checkRefused(t, "alice's fourth request", status, retry, body)
	if n, _ := strconv.Atoi(retry); n > 60 {
		t.Errorf("Retry-After %s s for one request a minute", retry)
	}
	status, _, body = call2026(t, gw, "bob", "tools/list", "")
	checkServed(t, "bob's first request", status, body)
	if got := limitsRefused(t, reader); got["rate_user"] != 1 {
		t.Errorf("mcpgate.limits.enforced refused %v, want rate_user 1", got)
	}
}

// Per user and tool: one tool's calls are limited, the user's other tools
// are not, and a refused call reaches no upstream.
func TestRateLimitPerUserTool(t *testing.T) {
	gw, one, _, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerUserTool, RequestsPerMinute: 1, Burst: 2}})
	for range 2 {
		status, _, body := call2026(t, gw, "alice", "tools/call", "one__a")
		checkServed(t, "a call of one__a", status, body)
	}
	status, retry, body := call2026(t, gw, "alice", "tools/call", "one__a")
	checkRefused(t, "alice's third call of one__a", status, retry, body)
	status, _, body = call2026(t, gw, "alice", "tools/call", "one__b")
	checkServed(t, "alice's call of one__b", status, body)
	status, _, body = call2026(t, gw, "bob", "tools/call", "one__a")
	checkServed(t, "bob's call of one__a", status, body)
	if n := one.Load(); n != 4 {
		t.Errorf("upstream one saw %d calls, want 4 (the refused one never reached it)", n)
	}
	// Lists are not tool calls.
	status, _, body = call2026(t, gw, "alice", "tools/list", "")
	checkServed(t, "alice's list", status, body)
}

// Per server: the calls to one upstream are limited across users; the
// other upstream is not.
func TestRateLimitPerServer(t *testing.T) {
	gw, one, two, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerServer, RequestsPerMinute: 1, Burst: 2}})
	call2026(t, gw, "alice", "tools/call", "one__a")
	call2026(t, gw, "bob", "tools/call", "one__b")
	status, retry, body := call2026(t, gw, "alice", "tools/call", "one__b")
	checkRefused(t, "the third call to server one", status, retry, body)
	status, _, body = call2026(t, gw, "alice", "tools/call", "two__a")
	checkServed(t, "a call to server two", status, body)
	if one.Load() != 2 || two.Load() != 1 {
		t.Errorf("upstreams saw %d and %d calls, want 2 and 1", one.Load(), two.Load())
	}
}

// Per client: an OAuth client's requests are limited across its users.
func TestRateLimitPerClient(t *testing.T) {
	gw, _, _, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerClient, RequestsPerMinute: 1, Burst: 2}})
	// alice's tokens are of client claude; bob's of cursor.
	call2026(t, gw, "alice", "tools/list", "")
	call2026(t, gw, "alice", "tools/list", "")
	status, retry, body := call2026(t, gw, "alice", "tools/list", "")
	checkRefused(t, "claude's third request", status, retry, body)
	status, _, body = call2026(t, gw, "bob", "tools/list", "")
	checkServed(t, "cursor's first request", status, body)
}

// A request refused by one limit costs nothing of the others: here the
// user's budget of 4 is still whole after two refusals by the per-tool
// limit.
func TestRateLimitRefusalGivesBack(t *testing.T) {
	gw, _, _, _ := rateGateway(t, []config.RateLimit{
		{Per: config.RatePerUser, RequestsPerMinute: 1, Burst: 4},
		{Per: config.RatePerUserTool, RequestsPerMinute: 1, Burst: 1},
	})
	status, _, body := call2026(t, gw, "alice", "tools/call", "one__a")
	checkServed(t, "the first call", status, body)
	for range 2 {
		status, retry, body := call2026(t, gw, "alice", "tools/call", "one__a")
		checkRefused(t, "a second call of the tool", status, retry, body)
	}
	for i := range 3 {
		status, _, body := call2026(t, gw, "alice", "tools/list", "")
		checkServed(t, fmt.Sprintf("list %d after the refusals", i+1), status, body)
	}
	status, retry, body := call2026(t, gw, "alice", "tools/list", "")
	checkRefused(t, "the fifth request of the user", status, retry, body)
}

// The table of keys stays bounded: buckets full again are forgotten (they
// are the same as new ones), and a flood of new keys starts it over.
func TestRateLimitForgetsIdleKeys(t *testing.T) {
	l := newRateLimiters([]config.RateLimit{{Per: config.RatePerUser, RequestsPerMinute: 60, Burst: 2}})[0]
	l.maxKeys = 3
	now := time.Now()
	l.reserve("busy", now)
	l.reserve("busy", now)
	l.reserve("idle", now)
	l.reserve("other", now.Add(1400*time.Millisecond))
	// At the bound: idle is full again and forgotten, busy and other not.
	l.reserve("new", now.Add(1500*time.Millisecond))
	if _, ok := l.buckets["idle"]; ok || len(l.buckets) != 3 {
		t.Errorf("buckets after the sweep: %v", l.buckets)
	}
	// A flood: none is full, the table starts over.
	for i := range 5 {
		l.reserve(strconv.Itoa(i), now.Add(1500*time.Millisecond))
	}
	if len(l.buckets) > 3 {
		t.Errorf("%d buckets for a bound of 3", len(l.buckets))
	}
}

// A full table whose buckets keep aging out one by one (a steady stream of
// new keys) is not swept at every insert, each sweep holding the limit's
// lock over the whole table: a sweep that frees less than a tenth starts
// the table over.
func TestRateLimitSweepIsAmortised(t *testing.T) {
	l := newRateLimiters([]config.RateLimit{{Per: config.RatePerUserTool, RequestsPerMinute: 1, Burst: 1}})[0]
	step := time.Minute / rateKeys // a key refills a minute after it was made
	t0 := time.Now()
	i := 0
	for ; i < rateKeys; i++ {
		l.reserve("iss\x00mallory\x00"+strconv.Itoa(i), t0.Add(time.Duration(i)*step))
	}
	for range 200 {
		l.reserve("iss\x00mallory\x00"+strconv.Itoa(i), t0.Add(time.Duration(i)*step))
		i++
	}
	if n := len(l.buckets); n > 200 {
		t.Errorf("%d buckets after 200 inserts into a full table: it is swept at every insert", n)
	}
}
