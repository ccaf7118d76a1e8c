package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestUpstreamKilledMidStream (issue #17): an upstream that has begun to
// answer a call with an event stream — two progress notifications already
// relayed to the client — and is killed before the result. The client gets
// an error naming the server (not a hang, not a result), the progress it
// was sent is all it gets, and the other upstream goes on serving the same
// session; for clients of both revisions, in front of upstreams of both.
func TestUpstreamKilledMidStream(t *testing.T) {
	t.Parallel()
	for _, clientEra := range []string{legacy, modern} {
		for _, legacyUpstream := range []bool{true, false} {
			name := clientEra + "/upstream 2025 only"
			if !legacyUpstream {
				name = clientEra + "/upstream of both revisions"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				started := make(chan struct{}, 1)
				srv := mcp.NewServer(&mcp.Implementation{Name: "streaming"}, nil)
				srv.AddTool(&mcp.Tool{Name: "stream", InputSchema: json.RawMessage(`{"type":"object"}`)},
					func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
						for i := 1; i <= 2; i++ {
							if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
								ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: 10}); err != nil {
								return nil, err
							}
						}
						started <- struct{}{}
						<-ctx.Done()
						return nil, ctx.Err()
					})
				up := startUpstreamEra(t, srv, legacyUpstream)
				stable := startUpstream(t, echoServer("stable", nil, nil))
				gw := startGateway(t, nil, upstreamConfig("flaky", up.URL), upstreamConfig("stable", stable.URL))

				progress := make(chan float64, 16)
				cs := connect(t, gw.URL, clientEra, &mcp.ClientOptions{
					ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
						progress <- req.Params.Progress
					}})
				done := make(chan error, 1)
				go func() {
					p := &mcp.CallToolParams{Name: "flaky__stream"}
					p.SetProgressToken("mid-stream")
					res, err := cs.CallTool(ctxTimeout(t), p)
					if err == nil {
						t.Errorf("the call got a result from a killed upstream: %+v", res)
					}
					done <- err
				}()
				<-started
				for want := 1.0; want <= 2; want++ {
					select {
					case got := <-progress:
						if got != want {
							t.Errorf("progress %v, want %v", got, want)
						}
					case <-ctxTimeout(t).Done():
						t.Fatalf("progress %v never reached the client", want)
					}
				}
				up.stop()
				err := <-done
				if rpcErr := rpcError(t, err); !strings.Contains(rpcErr.Message, `"flaky"`) {
					t.Errorf("mid-stream failure %q does not name the server", rpcErr.Message)
				}
				select {
				case p := <-progress:
					t.Errorf("progress %v after the upstream died", p)
				default:
				}
				res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "stable__echo", Arguments: map[string]any{"a": 1}})
				if err != nil || textOf(t, res) != `stable:{"a":1}` {
					t.Errorf("the other upstream on the same session after the kill: %v %v", err, res)
				}
			})
		}
	}
}
