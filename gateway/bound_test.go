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
// token_exchange and for SSE upstreams), an answer over the bound fails
// its own call only: another call in flight on the same upstream session
// completes (found in review: the failed read failed every call on the
// session). Upstreams that answer with event streams and with JSON.
func TestBoundOneAnswerOnlyFailsItsCallSDKPath(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		json       bool
	}{
		{"event stream", `server "up"`, false},
		{"JSON", "over the gateway's bound of 16MiB (limits.max_upstream_message_bytes)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started, release := make(chan struct{}, 1), make(chan struct{})
			srv := mcp.NewServer(&mcp.Implementation{Name: "big", Version: "1"}, nil)
			srv.AddTool(&mcp.Tool{Name: "big", InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", 17<<20)}}}, nil
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
			hs := newLoopbackServer(t, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
				&mcp.StreamableHTTPOptions{JSONResponse: tc.json}))
			opts := testOptions()
			opts.SDKForwarding = true
			gw := startGatewayConfig(t, opts, func(c *config.Config) {
				s := upstreamConfig("up", hs.URL)
				s.Timeout = config.Duration(10 * time.Second)
				c.Servers = []config.Server{s}
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
			if msg := callErr(t, attacker, "up__big"); !strings.Contains(msg, tc.want) {
				t.Errorf("the over-large answer: %q, want %q in it", msg, tc.want)
			}
			close(release)
			if got := <-done; got != "slow done" {
				t.Errorf("the other call in flight on the same upstream: %q", got)
			}
		})
	}
}
