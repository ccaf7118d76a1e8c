package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// misbehavingUpstream is a go-sdk server whose tool calls misbehave on demand:
// "big" answers 50 MiB, "hang" starts an answer and never ends it,
// "endless" answers with an event stream that never carries the response,
// "garbage" answers with what is not JSON-RPC. "ok" answers.
func misbehavingUpstream(t *testing.T) (url string, stop func()) {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "hostile", Version: "1"}, nil)
	for _, name := range []string{"ok", "big", "hang", "endless", "garbage"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name}}}, nil
		})
	}
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	done := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg rpcPeek
		_ = json.Unmarshal(body, &msg)
		if msg.Method != "tools/call" {
			sdk.ServeHTTP(w, r)
			return
		}
		switch msg.Params.Name {
		case "big": // written as it goes, not built first: quick under -race too
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"`, msg.ID)
			chunk := bytes.Repeat([]byte("x"), 1<<20)
			for range 50 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			io.WriteString(w, `"}]}}`)
		case "hang":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"`, msg.ID)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-done:
			}
		case "endless":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			for {
				if _, err := io.WriteString(w, ": still here\n\n"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		case "garbage":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "<html>502 Bad Gateway</html>")
		default:
			sdk.ServeHTTP(w, r)
		}
	})
	hs := newLoopbackServer(t, h)
	return hs.URL, func() { close(done) }
}

// misbehavingGateway serves misbehavingUpstream as "evil" (timeout 3s)
// and an echo server as "good".
func misbehavingGateway(t *testing.T, opts *Options) *testGateway {
	t.Helper()
	url, stop := misbehavingUpstream(t)
	t.Cleanup(stop)
	good := startUpstream(t, echoServer("good", nil, nil))
	evil := upstreamConfig("evil", url)
	evil.Timeout = config.Duration(3 * time.Second)
	return startGatewayConfig(t, opts, func(c *config.Config) {
		c.Servers = []config.Server{evil, upstreamConfig("good", good.URL)}
	})
}

// A hostile upstream's answers end in a clear error for the one call,
// within the server's timeout; the gateway and the other upstreams go on.
func TestHostileUpstreamAnswers(t *testing.T) {
	gw := misbehavingGateway(t, nil)
	for _, era := range []string{legacy, modern} {
		cs := connect(t, gw.URL, era, nil)
		for tool, want := range map[string]string{
			"evil__big":     `server "evil" answered with a message over the gateway's bound of 16MiB (limits.max_upstream_message_bytes)`,
			"evil__hang":    "did not answer within 3s",
			"evil__endless": "did not answer within 3s",
			"evil__garbage": `server "evil" answered the call with something that is not a usable MCP answer`,
		} {
			msg := callErr(t, cs, tool)
			if !strings.Contains(msg, want) {
				t.Errorf("%s %s: %q, want it to say %q", era, tool, msg, want)
			}
			if msg := callErr(t, cs, "good__echo"); msg != "" {
				t.Errorf("%s: the other upstream after %s: %q", era, tool, msg)
			}
		}
		if msg := callErr(t, cs, "evil__ok"); msg != "" {
			t.Errorf("%s: the hostile upstream's good tool: %q", era, msg)
		}
	}
	if st := upstreamState(gw.Gateway, "good"); st != StateReady {
		t.Errorf("the other upstream is %s", st)
	}
}

// A redirect is never followed: the upstream's credentials would go to
// wherever it points. The upstream is down with the reason, and the other
// host never hears of the gateway.
func TestHostileUpstreamRedirect(t *testing.T) {
	var reached atomic.Int64
	elsewhere := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	redirect := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/mcp", http.StatusTemporaryRedirect)
	}))
	good := startUpstream(t, echoServer("good", nil, nil))
	evil := upstreamConfig("evil", redirect.URL+"/mcp")
	evil.Headers = []config.Header{{Name: "X-Api-Key", Value: "secret"}}
	gw := startGatewayConfig(t, nil, func(c *config.Config) {
		c.Servers = []config.Server{evil, upstreamConfig("good", good.URL)}
	})
	st := readyStatusOf(gw.Gateway, "evil")
	if st.State == StateReady || !strings.Contains(st.Error, "Redirect") {
		t.Errorf("a redirecting upstream: %+v", st)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the redirect's target was reached %d times", n)
	}
	cs := connect(t, gw.URL, legacy, nil)
	if msg := callErr(t, cs, "good__echo"); msg != "" {
		t.Errorf("the other upstream: %q", msg)
	}
}

// A certificate that does not verify is refused: the upstream is down,
// saying why; the other upstreams are served.
func TestHostileUpstreamCertificate(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "selfsigned", Version: "1"}, nil)
	tlsSrv := httptest.NewUnstartedServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	tlsSrv.Listener.Close()
	tlsSrv.Listener = loopbackListener(t)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	good := startUpstream(t, echoServer("good", nil, nil))
	evil := upstreamConfig("evil", tlsSrv.URL+"/mcp")
	evil.AllowInsecureHTTP = false
	gw := startGatewayConfig(t, nil, func(c *config.Config) {
		c.Servers = []config.Server{evil, upstreamConfig("good", good.URL)}
	})
	st := readyStatusOf(gw.Gateway, "evil")
	if st.State == StateReady || !strings.Contains(st.Error, "certificate") {
		t.Errorf("an upstream whose certificate does not verify: %+v", st)
	}
	cs := connect(t, gw.URL, modern, nil)
	if msg := callErr(t, cs, "good__echo"); msg != "" {
		t.Errorf("the other upstream: %q", msg)
	}
}

// 10,000 tools are listed, page by page, and called.
func TestHostileUpstreamManyTools(t *testing.T) {
	up := startUpstream(t, manyTools("many", 10_000))
	gw := startGateway(t, nil, upstreamConfig("many", up.URL))
	for _, era := range []string{legacy, modern} {
		cs := connect(t, gw.URL, era, nil)
		if n := len(toolNames(t, cs)); n != 10_000 {
			t.Errorf("%s: %d tools listed, want 10000", era, n)
		}
		if msg := callErr(t, cs, "many__tool-9999"); msg != "" {
			t.Errorf("%s: the last tool: %q", era, msg)
		}
	}
}

// The same through the SDK's path (Options.SDKForwarding): each call
// fails alone, within the timeout, and the other upstream is served.
func TestHostileUpstreamAnswersSDKPath(t *testing.T) {
	opts := testOptions()
	opts.SDKForwarding = true
	gw := misbehavingGateway(t, opts)
	cs := connect(t, gw.URL, legacy, nil)
	for _, tool := range []string{"evil__big", "evil__hang", "evil__endless", "evil__garbage"} {
		if msg := callErr(t, cs, tool); !strings.Contains(msg, `server "evil"`) {
			t.Errorf("%s: %q, want an error naming the server", tool, msg)
		}
		if msg := callErr(t, cs, "good__echo"); msg != "" {
			t.Errorf("the other upstream after %s: %q", tool, msg)
		}
	}
}

// An upstream killed while the gateway lists it (after its list_changed,
// between two pages): the gateway stays up, the other upstream is served,
// a call of the dead one fails naming it, and the whole list comes back
// when the upstream does.
func TestUpstreamKilledDuringList(t *testing.T) {
	srv := manyTools("flaky", 50)
	var block atomic.Bool
	listing := make(chan struct{}, 1)
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if p, ok := req.GetParams().(*mcp.ListToolsParams); ok && method == "tools/list" && p.Cursor != "" && block.Load() {
				select {
				case listing <- struct{}{}:
				default:
				}
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return next(ctx, method, req)
		}
	})
	up := startLegacyUpstream(t, srv)
	stable := startUpstream(t, echoServer("stable", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("flaky", up.URL), upstreamConfig("stable", stable.URL))
	cs := connect(t, gw.URL, legacy, nil)
	if n := len(toolNames(t, cs)); n != 52 {
		t.Fatalf("%d tools before, want 52", n)
	}
	block.Store(true)
	srv.AddTool(&mcp.Tool{Name: "tool-new", InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	<-listing // the gateway is between two pages
	up.stop()
	eventually(t, "the dead upstream to leave the lists", func() bool { return upstreamState(gw.Gateway, "flaky") != StateReady })
	if msg := callErr(t, cs, "stable__echo"); msg != "" {
		t.Errorf("the other upstream: %q", msg)
	}
	eventually(t, "the dead upstream's tools to leave", func() bool { return len(toolNames(t, cs)) == 2 })
	if msg := callErr(t, cs, "flaky__tool-001"); !strings.Contains(msg, `server "flaky"`) {
		t.Errorf("a call of the dead upstream: %q", msg)
	}
	block.Store(false)
	up.start()
	eventually(t, "the whole list back", func() bool { return len(toolNames(t, cs)) == 53 })
}

// Shutdown under load: 32 callers call in a loop while the gateway drains.
// Every request it accepted is answered with its result; every other one
// is answered 503 with Retry-After, which a client may retry. None is cut
// short, none hangs, none gets anything else.
func TestShutdownUnderLoad(t *testing.T) {
	up := startUpstream(t, echoServer("busy", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("busy", up.URL))
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"busy__echo","arguments":{"n":1},"_meta":{` +
		`"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},` +
		`"io.modelcontextprotocol/clientInfo":{"name":"load","version":"1"}}}}`
	header := map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": "tools/call", "Mcp-Name": "busy__echo"}
	var served, refused, other atomic.Int64
	var firstOther atomic.Value
	stop := make(chan struct{})
	done := make(chan struct{})
	const callers = 32
	var running atomic.Int64
	for range callers {
		running.Add(1)
		go func() {
			defer func() {
				if running.Add(-1) == 0 {
					close(done)
				}
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				status, h, got := postMCPHeader(t, gw.URL, body, header)
				switch {
				case status == http.StatusOK && strings.Contains(got, `"text":"busy:{\"n\":1}"`):
					served.Add(1)
				case status == http.StatusServiceUnavailable && h.Get("Retry-After") != "":
					refused.Add(1)
					return // shutting down: a client retries elsewhere
				default:
					other.Add(1)
					firstOther.CompareAndSwap(nil, fmt.Sprintf("HTTP %d %s", status, got))
				}
			}
		}()
	}
	eventually(t, "load", func() bool { return served.Load() > 200 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.Close(ctx); err != nil {
		t.Errorf("drain: %v", err)
	}
	close(stop)
	<-done
	if other.Load() != 0 {
		t.Errorf("%d answers neither served nor 503 with Retry-After, the first: %v", other.Load(), firstOther.Load())
	}
	if refused.Load() == 0 {
		t.Error("no caller was told to retry: the drain never refused a request")
	}
	t.Logf("served %d, refused %d", served.Load(), refused.Load())
}

// The bound of one upstream message is limits.max_upstream_message_bytes:
// here 1 MiB, which the 50 MiB answer passes on the fast path and the
// SDK's alike; an answer under it is served.
func TestUpstreamMessageBoundConfigured(t *testing.T) {
	url, stop := misbehavingUpstream(t)
	defer stop()
	for _, sdk := range []bool{false, true} {
		opts := testOptions()
		opts.SDKForwarding = sdk
		gw := startGatewayConfig(t, opts, func(c *config.Config) {
			c.Servers = []config.Server{upstreamConfig("evil", url)}
			c.Limits.MaxUpstreamMessageBytes = 1 << 20
		})
		cs := connect(t, gw.URL, legacy, nil)
		if msg := callErr(t, cs, "evil__big"); !strings.Contains(msg, `server "evil" answered with a message over the gateway's bound of 1MiB (limits.max_upstream_message_bytes)`) {
			t.Errorf("SDK path %v: %q", sdk, msg)
		}
		if msg := callErr(t, cs, "evil__ok"); msg != "" {
			t.Errorf("SDK path %v: a small answer: %q", sdk, msg)
		}
	}
}
