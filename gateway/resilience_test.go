package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// echoServer has one tool, echo, and a tool that blocks until released.
func echoServer(name string, release <-chan struct{}, started chan<- struct{}) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: name}, nil)
	s.AddTool(&mcp.Tool{Name: "echo", InputSchema: emptyObject}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + ":" + string(req.Params.Arguments)}}}, nil
	})
	s.AddTool(&mcp.Tool{Name: "slow", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "finished"}}}, nil
	})
	return s
}

func upstreamState(g *Gateway, name string) State {
	for _, s := range g.Status().Upstreams {
		if s.Name == name {
			return s.State
		}
	}
	return ""
}

// rpcError returns the JSON-RPC error in err, failing the test if there is none.
func rpcError(t *testing.T, err error) *jsonrpc.Error {
	t.Helper()
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) {
		t.Fatalf("error %v (%T) is not a JSON-RPC error", err, err)
	}
	return rpcErr
}

func TestUpstreamKilledMidCallAndRestarted(t *testing.T) {
	t.Parallel()
	release, started := make(chan struct{}), make(chan struct{}, 4)
	defer close(release)
	up := startLegacyUpstream(t, echoServer("flaky", release, started))
	stable := startUpstream(t, echoServer("stable", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("flaky", up.URL), upstreamConfig("stable", stable.URL))

	changed := make(chan struct{}, 16)
	cs := connect(t, gw.URL, legacy, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "flaky__slow"})
		done <- err
	}()
	<-started
	up.stop()
	err := <-done
	if rpcErr := rpcError(t, err); !strings.Contains(rpcErr.Message, `"flaky"`) {
		t.Errorf("mid-call failure %q does not name the server", rpcErr.Message)
	}

	eventually(t, "flaky to be down", func() bool { return upstreamState(gw.Gateway, "flaky") == StateDown })
	eventually(t, "flaky's tools to leave the list", func() bool {
		return !slices.Contains(toolNames(t, cs), "flaky__echo")
	})
	// Calls fail fast with an error naming the server; the other upstream works.
	_, err = cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "flaky__echo"})
	if rpcErr := rpcError(t, err); !strings.Contains(rpcErr.Message, `server "flaky" is down`) {
		t.Errorf("call to a down server: %q", rpcErr.Message)
	}
	if res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "stable__echo"}); err != nil || res.IsError {
		t.Errorf("the other upstream failed while flaky was down: %v", err)
	}

	drain(changed)
	up.start() // same address
	eventually(t, "flaky to come back", func() bool { return upstreamState(gw.Gateway, "flaky") == StateReady })
	select {
	case <-changed:
	case <-ctxTimeout(t).Done():
		t.Fatal("no tools/list_changed after the upstream came back")
	}
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "flaky__echo", Arguments: map[string]any{"a": 1}})
	if err != nil || textOf(t, res) != `flaky:{"a":1}` {
		t.Errorf("call after recovery: %v %v", err, res)
	}
}

func drain(ch chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestUpstreamSessionExpiryIsTransparent(t *testing.T) {
	t.Parallel()
	up := startLegacyUpstream(t, echoServer("exp", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("exp", up.URL))
	cs := connect(t, gw.URL, modern, nil)
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "exp__echo"}); err != nil {
		t.Fatal(err)
	}
	before := len(up.seenHeaders())
	up.forgetSessions()
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "exp__echo", Arguments: map[string]any{"n": 2}})
	if err != nil || textOf(t, res) != `exp:{"n":2}` {
		t.Fatalf("call after the upstream forgot its session: %v %v", err, res)
	}
	// The gateway saw a 404, initialised a new session and sent the call again.
	var inits int
	for _, h := range up.seenHeaders()[before:] {
		if h.Get("Mcp-Session-Id") == "" {
			inits++
		}
	}
	if inits == 0 {
		t.Error("no new session was initialised after the 404")
	}
}

func TestUpstreamDownAtStart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String() + "/mcp"
	ln.Close() // nothing listens there now
	up := startUpstream(t, echoServer("alive", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("dead", deadURL), upstreamConfig("alive", up.URL))
	if got := upstreamState(gw.Gateway, "dead"); got != StateDown {
		t.Fatalf("dead upstream state %q", got)
	}
	cs := connect(t, gw.URL, legacy, nil)
	if got := toolNames(t, cs); !slices.Equal(got, []string{"alive__echo", "alive__slow"}) {
		t.Errorf("tools %v", got)
	}
	_, err = cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "dead__anything"})
	rpcErr := rpcError(t, err)
	// The client learns which server is down, not its address or the
	// transport's error; those are for /readyz and the log.
	if !strings.Contains(rpcErr.Message, `server "dead" is down`) || strings.Contains(rpcErr.Message, "127.0.0.1") {
		t.Errorf("call to the dead server: %q", rpcErr.Message)
	}
	for _, st := range gw.Status().Upstreams {
		if st.Name == "dead" && (!strings.Contains(st.Error, "connection refused") || strings.Contains(st.Error, "no answer within")) {
			t.Errorf("/readyz error of the dead server = %q, want the refused connection, not a timeout", st.Error)
		}
	}
	var data map[string]string
	if json.Unmarshal(rpcErr.Data, &data) != nil || data["server"] != "dead" {
		t.Errorf("error data %s does not name the server", rpcErr.Data)
	}
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	release, started := make(chan struct{}), make(chan struct{}, 1)
	defer close(release)
	up := startUpstream(t, echoServer("sleepy", release, started))
	s := upstreamConfig("sleepy", up.URL)
	s.Timeout = config.Duration(300 * time.Millisecond)
	gw := startGateway(t, nil, s)
	cs := connect(t, gw.URL, legacy, nil)
	_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "sleepy__slow"})
	if rpcErr := rpcError(t, err); !strings.Contains(rpcErr.Message, "did not answer within 300ms") {
		t.Errorf("timeout error %q", rpcErr.Message)
	}
}

func TestListChangedReachesClients(t *testing.T) {
	t.Parallel()
	srv := echoServer("dyn", nil, nil)
	up := startUpstream(t, srv)
	gw := startGateway(t, nil, upstreamConfig("dyn", up.URL))
	for name, version := range eras {
		t.Run(name, func(t *testing.T) {
			changed := make(chan struct{}, 16)
			cs := connect(t, gw.URL, version, &mcp.ClientOptions{
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
			})
			if version == modern {
				waitForListen(t, cs)
			}
			toolName := "added_" + strings.ReplaceAll(name, "-", "")
			srv.AddTool(&mcp.Tool{Name: toolName, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "new"}}}, nil
			})
			select {
			case <-changed:
			case <-ctxTimeout(t).Done():
				t.Fatal("no tools/list_changed reached the client")
			}
			eventually(t, "the new tool to be listed", func() bool {
				return slices.Contains(toolNames(t, cs), "dyn__"+toolName)
			})
			srv.RemoveTools(toolName)
			eventually(t, "the removed tool to leave the list", func() bool {
				return !slices.Contains(toolNames(t, cs), "dyn__"+toolName)
			})
		})
	}
}

// waitForListen waits until a 2026-07-28 session's subscriptions/listen
// stream is open at the gateway, so no notification is sent before it.
func waitForListen(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	// A listen request is acknowledged by the server before notifications
	// flow; a round trip on the same connection after Connect orders us
	// behind it in practice, and the eventual check above bounds the rest.
	if _, err := cs.ListTools(ctxTimeout(t), nil); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownLetsCallsInFlightFinish(t *testing.T) {
	t.Parallel()
	release, started := make(chan struct{}), make(chan struct{}, 1)
	up := startUpstream(t, echoServer("busy", release, started))
	gw := startGateway(t, nil, upstreamConfig("busy", up.URL))
	cs := connect(t, gw.URL, legacy, nil)
	later := connect(t, gw.URL, modern, nil)
	result := make(chan string, 1)
	go func() {
		res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "busy__slow"})
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		result <- textOf(t, res)
	}()
	<-started
	closed := make(chan error, 1)
	go func() {
		closed <- gw.Close(ctxTimeout(t))
	}()
	eventually(t, "the gateway to refuse new calls", func() bool {
		_, err := later.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "busy__echo"})
		// 503: the SDK client reports it as a transient "Service Unavailable".
		return err != nil && strings.Contains(err.Error(), "Service Unavailable")
	})
	close(release)
	if got := <-result; got != "finished" {
		t.Errorf("call in flight during shutdown: %q", got)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}
