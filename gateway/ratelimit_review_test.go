package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Each request of a 2025-03-26 batch counts, under every limit, with its
// own method and name (found in review: a batch counted once, and escaped
// the user_tool and server limits).
func TestRateLimitBatchUnderUserToolLimit(t *testing.T) {
	gw, one, _, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerUserTool, RequestsPerMinute: 1, Burst: 1}})
	cs := connectAs(t, gw, legacy, alice)
	var calls []string
	for i := range 10 {
		calls = append(calls, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"one__a","arguments":{}}}`, i+1))
	}
	h := map[string]string{"Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": "2025-03-26", "X-Test-User": "alice", "Authorization": "Bearer employee-token-alice"}
	status, body := postMCP(t, gw.URL, "["+strings.Join(calls, ",")+"]", h)
	t.Logf("batch: HTTP %d %.300s", status, body)
	if n := one.Load(); n > 1 {
		t.Errorf("user_tool limit of burst 1: upstream one executed %d calls of one__a from a single batch", n)
	}
}

func TestRateLimitBatchUnderServerLimit(t *testing.T) {
	gw, one, _, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerServer, RequestsPerMinute: 1, Burst: 1}})
	cs := connectAs(t, gw, legacy, alice)
	h := map[string]string{"Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": "2025-03-26", "X-Test-User": "alice", "Authorization": "Bearer employee-token-alice"}
	for i := range 5 {
		status, body := postMCP(t, gw.URL, fmt.Sprintf(`[{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"one__a","arguments":{}}}]`, i+1), h)
		t.Logf("batch %d: HTTP %d %.200s", i, status, body)
	}
	if n := one.Load(); n > 1 {
		t.Errorf("server limit of burst 1: upstream one executed %d calls (one-element batches)", n)
	}
}

func TestRateLimitBatchCountsEachRequest(t *testing.T) {
	gw, one, _, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerUser, RequestsPerMinute: 1, Burst: 3}})
	cs := connectAs(t, gw, legacy, alice) // initialize: 1 token
	var calls []string
	for i := range 50 {
		calls = append(calls, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"one__a","arguments":{}}}`, i+1))
	}
	h := map[string]string{"Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": "2025-03-26", "X-Test-User": "alice", "Authorization": "Bearer employee-token-alice"}
	postMCP(t, gw.URL, "["+strings.Join(calls, ",")+"]", h)
	if n := one.Load(); n > 3 {
		t.Errorf("user limit of burst 3: %d upstream calls went through on one token", n)
	}
}

// A client's answer to an elicitation the gateway relayed (an id, no
// method) is not a request: it is never refused, so the call it belongs
// to goes on (found in review: it was answered 429 and the call hung).
func TestRateLimitElicitationAnswerNotCounted(t *testing.T) {
	up := startLegacyUpstream(t, interactiveServer(make(chan string, 4), make(chan string, 4)))
	opts := testOptions()
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{signedInByHeader}
	gw := startGatewayConfig(t, opts, func(c *config.Config) {
		c.Servers = []config.Server{upstreamConfig("legacy", up.URL)}
		// Two requests: initialize and the call. The elicitation answer
		// is not a request.
		c.Limits.Rate = []config.RateLimit{{Per: config.RatePerUser, RequestsPerMinute: 1, Burst: 2}}
	})
	cs := connectWith(t, gw.URL, legacy, &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"colour": "teal"}}, nil
		},
	}, employeeHTTPClient(alice))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "legacy__ask"})
	if err != nil {
		t.Fatalf("call with an elicitation, within the user's 2 requests: %v", err)
	}
	if got := textOf(t, res); got != "accept:teal" {
		t.Fatalf("call with an elicitation: %q (isError %v)", got, res.IsError)
	}
}

// Names of no tool make no user_tool key: a caller cannot fill the table
// and have it start over, its own limited bucket included (found in
// review). Here the table bound is 3.
func TestRateLimitUnknownToolNamesMakeNoKeys(t *testing.T) {
	gw, one, _, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerUserTool, RequestsPerMinute: 1, Burst: 1}})
	gw.limiters[0].maxKeys = 3
	call2026(t, gw, "alice", "tools/call", "one__a")
	status, _, _ := call2026(t, gw, "alice", "tools/call", "one__a")
	if status != http.StatusTooManyRequests {
		t.Fatalf("second call: %d, want 429", status)
	}
	for i := range 3 {
		call2026(t, gw, "alice", "tools/call", fmt.Sprintf("no_such_tool_%d", i))
	}
	status, _, body := call2026(t, gw, "alice", "tools/call", "one__a")
	if status != http.StatusTooManyRequests || one.Load() > 1 {
		t.Errorf("after calls of unknown tools, one__a again: HTTP %d %.120s (upstream saw %d calls; limit burst 1, 1/min)", status, body, one.Load())
	}
}

// A token without a client id is not limited per client (its callers are
// told apart by the user limit): its users do not share one bucket (found
// in review).
func TestRateLimitNoClientIDNoSharedBucket(t *testing.T) {
	carol := &authn.Identity{Issuer: "https://idp.test", Subject: "carol", Groups: []string{"engineering"}}
	dave := &authn.Identity{Issuer: "https://idp.test", Subject: "dave", Groups: []string{"engineering"}}
	gw, _, _, _ := rateGatewayAs(t, []config.RateLimit{{Per: config.RatePerClient, RequestsPerMinute: 1, Burst: 2}}, signedInAsOneOf(carol, dave))
	for i := range 3 {
		status, _, body := call2026(t, gw, "carol", "tools/list", "")
		checkServed(t, fmt.Sprintf("carol's request %d (no client id: no per-client limit)", i+1), status, body)
	}
	status, _, body := call2026(t, gw, "dave", "tools/list", "")
	checkServed(t, "dave's request", status, body)
}

// A go-sdk session survives a 429 and works again once a token is back,
// in both eras.
func TestRateLimitSessionRecovers(t *testing.T) {
	for _, era := range []string{legacy, modern} {
		t.Run(era, func(t *testing.T) {
			gw, _, _, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerUser, RequestsPerMinute: 60, Burst: 3}})
			cs := connectAs(t, gw, era, alice)
			var refused bool
			for range 6 {
				if _, err := cs.ListTools(ctxTimeout(t), nil); err != nil {
					t.Logf("%v", err)
					refused = true
				}
			}
			if !refused {
				t.Fatal("never refused")
			}
			time.Sleep(2100 * time.Millisecond)
			if _, err := cs.ListTools(ctxTimeout(t), nil); err != nil {
				t.Errorf("after Retry-After: %v", err)
			}
			if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "one__a"}); err != nil {
				t.Errorf("call after Retry-After: %v", err)
			}
		})
	}
}

// A tools/call sent as a notification (no id) is not counted, and reaches
// no upstream.
func TestRateLimitNotificationCall(t *testing.T) {
	gw, one, _, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerUserTool, RequestsPerMinute: 1, Burst: 1}})
	cs := connectAs(t, gw, legacy, alice)
	h := map[string]string{"Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": legacy, "X-Test-User": "alice", "Authorization": "Bearer employee-token-alice"}
	for range 5 {
		postMCP(t, gw.URL, `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"one__a","arguments":{}}}`, h)
	}
	// The limit's one token is still there: the notifications took none.
	if msg := callErr(t, cs, "one__a"); msg != "" {
		t.Errorf("a call after five notifications: %q", msg)
	}
	if n := one.Load(); n != 1 {
		t.Errorf("%d calls reached the upstream, want the one call (no notification)", n)
	}
}
