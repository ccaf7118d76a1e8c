package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Events under the bound go through eventBound unchanged, whatever the
// reads, a last event the stream ended on included; one over it is
// replaced by an error for the POSTed call, and the stream ends there.
func TestEventBoundPassesEventsUnder(t *testing.T) {
	stream := "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n" +
		": a comment\r\n\r\ndata: {\"a\":\ndata: 1}\n\nretry: 5\n\n" + "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\ndata: cut"
	for _, r := range []io.Reader{strings.NewReader(stream), iotest.OneByteReader(strings.NewReader(stream)), iotest.HalfReader(strings.NewReader(stream))} {
		got, err := io.ReadAll(newEventBound(io.NopCloser(r), 128, nil, "up", nil))
		if err != nil || string(got) != stream {
			t.Errorf("read %q, %v; want the stream unchanged", got, err)
		}
	}
	over := "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}\n\ndata: " + strings.Repeat("y", 100) + "\n\ndata: after\n\n"
	got, err := io.ReadAll(newEventBound(io.NopCloser(iotest.OneByteReader(strings.NewReader(over))), 64, func() json.RawMessage { return json.RawMessage(`"c1"`) }, "up", nil))
	first := "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}\n\n"
	if err != nil || !strings.HasPrefix(string(got), first+"event: message\ndata: {\"error\":{\"code\":-32603,") || !strings.HasSuffix(string(got), `,"id":"c1","jsonrpc":"2.0"}`+"\n\n") ||
		!strings.Contains(string(got), "limits.max_upstream_message_bytes") || strings.Contains(string(got), "after") {
		t.Errorf("over the bound on a POST stream: %q, %v; want the first event, then the error for the call, and the end", got, err)
	}
	for prefix, want := range map[string]string{
		`{"jsonrpc":"2.0","id":7,"result":{"content":[{"text":"xxx`: "7",
		`{"id":"a","jsonrpc":"2.0","error":{"code":1`:               `"a"`,
		`{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage"`: "",
		`{"jsonrpc":"2.0","result":{"x":1},"id":7}`:                 "",
		`{"jsonrpc":"2.0","id":{"x":1},"result":{}}`:                "",
		`{"jsonrpc":"2.0","id":7`:                                   "",
	} {
		if got := string(responseID([]byte(prefix))); got != want {
			t.Errorf("responseID(%s) = %q, want %q", prefix, got, want)
		}
	}
}

// TestEventBoundAboveSDKMax (HTTP+SSE upstreams, found by review):
// limits.max_upstream_message_bytes may be up to 1 GiB, and an answer
// under it reaches the client whole, on the SDK's path too. The go-sdk
// client's own bound (16 MiB by default for HTTP+SSE) failed the stream,
// and with it the session, for an answer between 16 MiB and the bound.
func TestEventBoundAboveSDKMax(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "big", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "big", InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", 17<<20)}}}, nil
	})
	hs := newLoopbackServer(t, mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	opts := testOptions()
	opts.SDKForwarding = true
	gw := startGatewayConfig(t, opts, func(c *config.Config) {
		s := upstreamConfig("up", hs.URL)
		s.Transport = config.TransportSSE // go-sdk's SSE client applies DefaultMaxEventSize (sse.go:437); its streamable client does not
		s.Timeout = config.Duration(60 * time.Second)
		c.Servers = []config.Server{s}
		c.Limits.MaxUpstreamMessageBytes = 32 << 20
	})
	cs := connect(t, gw.URL, legacy, nil)
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__big"})
	if err != nil || res.IsError {
		msg := ""
		if res != nil && len(res.Content) > 0 {
			if tc, ok := res.Content[0].(*mcp.TextContent); ok {
				msg = tc.Text
				if len(msg) > 300 {
					msg = msg[:300]
				}
			}
		}
		t.Errorf("a 17 MiB answer under a 32 MiB bound: err %v, result %q", err, msg)
	}
}

// TestEventBoundReleasesLargeEvent (found by review): after a large event
// under the bound, the stream does not keep its buffer: a GET stream that
// once carried a 15 MiB event would hold it until it ends, on every
// upstream session.
func TestEventBoundReleasesLargeEvent(t *testing.T) {
	t.Parallel()
	big := "data: " + strings.Repeat("x", 15<<20) + "\n\n"
	pr, pw := io.Pipe()
	b := newEventBound(pr, 16<<20, nil, "up", nil)
	go func() { pw.Write([]byte(big)); pw.Write([]byte("data: {}\n\n")) }()
	buf := make([]byte, 1<<20)
	got := 0
	for got < len(big)+len("data: {}\n\n") {
		n, err := b.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if c := cap(b.event); c > 1<<20 {
		t.Errorf("the idle stream still holds a %d MiB event buffer", c>>20)
	}
	pw.Close()
}
