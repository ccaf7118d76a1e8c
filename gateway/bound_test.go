package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// On the SDK's path (used for upstreams of auth kinds oauth and
// token_exchange and for SSE upstreams), an answer over
// limits.max_upstream_message_bytes fails its own call only, with the
// bound's error, whether it came as a JSON body or as an event: another
// call in flight on the same upstream session completes, both client
// sessions call again, and the upstream stays ready (found in review: the
// failed read failed every call on the session, and an event gave
// "server … unavailable"). For a Streamable HTTP upstream answering with
// JSON and with event streams (the event on the call's own POST stream),
// and an HTTP+SSE one (every answer on one GET stream: the event is told
// by the id it starts with).
func TestBoundOneAnswerOnlyFailsItsCallSDKPath(t *testing.T) {
	for _, tc := range []struct {
		name, transport string
		json            bool
	}{
		{"JSON", config.TransportStreamableHTTP, true},
		{"event stream", config.TransportStreamableHTTP, false},
		{"HTTP+SSE", config.TransportSSE, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started, release := make(chan struct{}, 1), make(chan struct{})
			srv := mcp.NewServer(&mcp.Implementation{Name: "big", Version: "1"}, nil)
			srv.AddTool(&mcp.Tool{Name: "big", InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", 2<<20)}}}, nil
			})
			srv.AddTool(&mcp.Tool{Name: "small", InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "small done"}}}, nil
			})
			srv.AddTool(&mcp.Tool{Name: "slow", InputSchema: emptyObject}, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				started <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slow done"}}}, nil
			})
			get := func(*http.Request) *mcp.Server { return srv }
			var h http.Handler = mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{JSONResponse: tc.json})
			if tc.transport == config.TransportSSE {
				h = mcp.NewSSEHandler(get, nil)
			}
			hs := newLoopbackServer(t, h)
			opts := testOptions()
			opts.SDKForwarding = true
			gw := startGatewayConfig(t, opts, func(c *config.Config) {
				s := upstreamConfig("up", hs.URL)
				s.Transport = tc.transport
				s.Timeout = config.Duration(20 * time.Second)
				c.Servers = []config.Server{s}
				c.Limits.MaxUpstreamMessageBytes = 1 << 20
			})
			victim, attacker := connect(t, gw.URL, legacy, nil), connect(t, gw.URL, legacy, nil)
			done := make(chan string, 1)
			go func() {
				res, err := victim.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__slow"})
				if err != nil {
					done <- "error: " + err.Error()
					return
				}
				done <- textOf(t, res)
			}()
			<-started
			want := `server "up" answered with a message over the gateway's bound of 1MiB (limits.max_upstream_message_bytes); the call failed`
			if msg := callErr(t, attacker, "up__big"); !strings.Contains(msg, want) {
				t.Errorf("the over-large answer: %q, want %q in it", msg, want)
			}
			close(release)
			if got := <-done; got != "slow done" {
				t.Errorf("the other call in flight on the same upstream session: %q", got)
			}
			for _, cs := range []*mcp.ClientSession{attacker, victim} {
				res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__small"})
				if err != nil || textOf(t, res) != "small done" {
					t.Errorf("a call after the over-large answer: %v %v", err, res)
				}
			}
			if s := upstreamState(gw.Gateway, "up"); s != StateReady {
				t.Errorf("upstream state %q after the over-large answer, want ready", s)
			}
		})
	}
}
