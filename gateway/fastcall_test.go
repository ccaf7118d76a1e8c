package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestFastPathTakesEligibleCalls: calls to upstreams of either era take
// the fast path in both client eras (a 2025 client's call goes to a
// 2026-07-28 upstream in a 2025 session of the fast path's own), one to a
// tool with x-mcp-header parameters the SDK's path, and all answer as the
// SDK's path does (the same gateway with SDKForwarding).
func TestFastPathTakesEligibleCalls(t *testing.T) {
	t.Parallel()
	modernUp := startUpstream(t, echoServer("modern", nil, nil))
	legacyUp := startLegacyUpstream(t, echoServer("legacy", nil, nil))
	hdr := echoServer("hdr", nil, nil)
	hdr.AddTool(&mcp.Tool{Name: "regional", InputSchema: json.RawMessage(
		`{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}`)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hdr:" + string(req.Params.Arguments)}}}, nil
		})
	hdrUp := startUpstream(t, hdr)
	servers := []config.Server{upstreamConfig("modern", modernUp.URL), upstreamConfig("legacy", legacyUp.URL), upstreamConfig("hdr", hdrUp.URL)}
	gw, sdk := fastAndSDKGateways(t, servers...)
	for name, version := range eras {
		t.Run(name, func(t *testing.T) {
			cs := connect(t, gw.URL, version, nil)
			viaSDK := connect(t, sdk.URL, version, nil)
			// Listed first: a client sends Mcp-Param-* headers for tools it knows.
			toolNames(t, cs)
			toolNames(t, viaSDK)
			for _, tc := range []struct {
				tool string
				fast bool
			}{{"modern__echo", true}, {"legacy__echo", true}, {"hdr__regional", false}} {
				before := gw.fastStats.served.Load()
				params := &mcp.CallToolParams{Name: tc.tool, Arguments: map[string]any{"n": 1, "s": "é\u2028<", "region": "eu"}}
				res, err := cs.CallTool(ctxTimeout(t), params)
				if err != nil {
					t.Fatalf("%s: %v", tc.tool, err)
				}
				want, err := viaSDK.CallTool(ctxTimeout(t), params)
				if err != nil {
					t.Fatalf("%s through the SDK's path: %v", tc.tool, err)
				}
				if got, w := textOf(t, res), textOf(t, want); got != w {
					t.Errorf("%s: fast path answered %q, the SDK's path %q", tc.tool, got, w)
				}
				if took := gw.fastStats.served.Load() > before; took != tc.fast {
					t.Errorf("%s: fast path taken %v, want %v", tc.tool, took, tc.fast)
				}
			}
		})
	}
	if n := sdk.fastStats.served.Load(); n != 0 {
		t.Errorf("SDKForwarding: %d calls took the fast path", n)
	}
	// The 2025 client's call reached the 2026-07-28 upstream in a 2025
	// session.
	var inSession bool
	for _, h := range modernUp.seenHeaders() {
		inSession = inSession || h.Get("Mcp-Protocol-Version") == legacy && h.Get("Mcp-Session-Id") != ""
	}
	if !inSession {
		t.Error("no request of a 2025 session reached the upstream that speaks both eras")
	}
}

// TestFastPathLogLevel: on the fast path, a 2025 session gets the
// upstream's log messages at the level it set, as from the SDK's session.
func TestFastPathLogLevel(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, interactiveServer(make(chan string, 4), make(chan string, 4)))
	gw := startGateway(t, nil, upstreamConfig("up", up.URL))
	logs := make(chan *mcp.LoggingMessageParams, 8)
	cs := connect(t, gw.URL, legacy, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) { logs <- req.Params },
	})
	call := func() {
		t.Helper()
		before := gw.fastStats.served.Load()
		if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__chatty"}); err != nil {
			t.Fatal(err)
		}
		if gw.fastStats.served.Load() == before {
			t.Fatal("the call did not take the fast path")
		}
	}
	call() // no level set: no messages
	if err := cs.SetLoggingLevel(ctxTimeout(t), &mcp.SetLoggingLevelParams{Level: "warning"}); err != nil {
		t.Fatal(err)
	}
	call() // an info message is below warning
	if err := cs.SetLoggingLevel(ctxTimeout(t), &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
		t.Fatal(err)
	}
	call()
	p := recvLog(t, logs, "the message at the level asked for")
	if p.Data != "hello from upstream" || p.Level != "info" {
		t.Errorf("log message %+v", p)
	}
	// A ping makes sure every notification sent before it was handled.
	if err := cs.Ping(ctxTimeout(t), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-logs:
		t.Errorf("a message below the session's level was relayed: %+v", p)
	default:
	}
}

// hostileUpstream serves a go-sdk server, except that its tools/call
// requests are answered by answer, chosen by the tool's name.
func hostileUpstream(t *testing.T, tools []string, answer func(tool string, w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "hostile"}, nil)
	for _, name := range tools {
		s.AddTool(&mcp.Tool{Name: name, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	}
	stateless := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Mcp-Method") == "tools/call" {
			answer(r.Header.Get("Mcp-Name"), w, r)
			return
		}
		stateless.ServeHTTP(w, r)
	}))
	return srv.URL + "/mcp"
}

// TestFastPathHostileUpstream: whatever an upstream answers a call, the
// client gets a result or a clear error, and the gateway keeps serving.
func TestFastPathHostileUpstream(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20) // one event line far beyond the reader's buffer
	answers := map[string]func(w http.ResponseWriter, id json.RawMessage){
		"big": func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\",\"text\":%q}]}}\n\n", id, big)
		},
		"split": func(w http.ResponseWriter, id json.RawMessage) { // data over several lines, CRLF endings
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, ": comment\r\nid: 7\r\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":%s,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"whole\"}]}}\r\n\r\n", id)
		},
		"garbage": func(w http.ResponseWriter, _ json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "<html>not json")
		},
		"wrong-id": func(w http.ResponseWriter, _ json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"jsonrpc":"2.0","id":987654321,"result":{"content":[]}}`)
		},
		"truncated": func(w http.ResponseWriter, _ json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"x\",\"progress\":1}}\n\n")
		},
		"http-500": func(w http.ResponseWriter, _ json.RawMessage) {
			http.Error(w, "boom", http.StatusInternalServerError)
		},
		"html": func(w http.ResponseWriter, _ json.RawMessage) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<p>hello</p>")
		},
		"not-object": func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":[1,2]}`, id)
		},
		"endless-line": func(w http.ResponseWriter, _ json.RawMessage) { // one line over the bound, never ended
			w.Header().Set("Content-Type", "text/event-stream")
			chunk := []byte(strings.Repeat("y", 1<<20))
			io.WriteString(w, "data: ")
			for range 17 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		"rpc-error": func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"bad arguments, says the upstream"}}`, id)
		},
	}
	var tools []string
	for name := range answers {
		tools = append(tools, name)
	}
	url := hostileUpstream(t, tools, func(tool string, w http.ResponseWriter, r *http.Request) {
		var msg struct {
			ID json.RawMessage `json:"id"`
		}
		json.NewDecoder(r.Body).Decode(&msg)
		answers[tool](w, msg.ID)
	})
	good := startUpstream(t, echoServer("good", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("hostile", url), upstreamConfig("good", good.URL))
	for name, version := range eras {
		t.Run(name, func(t *testing.T) {
			cs := connect(t, gw.URL, version, nil)
			var hostileUp *upstream
			for _, u := range gw.ups {
				if u.cfg.Name == "hostile" {
					hostileUp = u
				}
			}
			pooled, _ := hostileUp.session()
			call := func(tool string) (*mcp.CallToolResult, error) {
				// The upstream and its tool in the caller's view, so every
				// answer is tried on the fast path.
				name := "hostile__" + tool
				eventually(t, "the hostile upstream back in the caller's view", func() bool {
					if upstreamState(gw.Gateway, "hostile") != StateReady || gw.catalog().tool(name) == nil {
						return false
					}
					s, ok := gw.registry.fast(cs.ID())
					return version == modern || ok && s.view.tool(name) != nil
				})
				before := gw.fastStats.served.Load()
				res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: name})
				if gw.fastStats.served.Load() == before {
					t.Errorf("%s: the call did not take the fast path", tool)
				}
				return res, err
			}
			for _, tool := range []string{"big", "split"} {
				res, err := call(tool)
				if err != nil {
					t.Fatalf("%s: %v", tool, err)
				}
				if got := textOf(t, res); (tool == "big" && got != big) || (tool == "split" && got != "whole") {
					t.Errorf("%s: got %d bytes of text, want the upstream's", tool, len(got))
				}
			}
			if _, err := call("rpc-error"); err == nil || !strings.Contains(err.Error(), "bad arguments, says the upstream") {
				t.Errorf("rpc-error: %v, want the upstream's own error", err)
			}
			for _, tool := range []string{"garbage", "wrong-id", "truncated", "http-500", "html", "not-object", "endless-line"} {
				_, err := call(tool)
				if err == nil || !strings.Contains(err.Error(), `server \"hostile\"`) && !strings.Contains(err.Error(), `server "hostile"`) {
					t.Errorf("%s: %v, want an error naming the server", tool, err)
				}
			}
			if now, _ := hostileUp.session(); now != pooled {
				t.Error("an unusable answer to one call re-established the upstream's session")
			}
			if res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "good__echo"}); err != nil || textOf(t, res) != "good:{}" && textOf(t, res) != "good:" {
				t.Errorf("the other upstream after the hostile answers: %v %v", res, err)
			}
		})
	}
}

// TestFastPathOddRequests: requests the fast path does not take are the
// SDK's to answer, as before; those it takes get its answers.
func TestFastPathOddRequests(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("up", nil, nil))
	gw, sdk := fastAndSDKGateways(t, upstreamConfig("up", up.URL))
	post := func(url, body string, header map[string]string) (int, string) {
		t.Helper()
		h := map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": "tools/call", "Mcp-Name": "up__echo"}
		for k, v := range header {
			h[k] = v
		}
		return postMCP(t, url, body, h)
	}
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	for name, tc := range map[string]struct {
		body   string
		header map[string]string
		fast   bool
		want   string // in the answer
	}{
		"plain call":                     {`{"jsonrpc":"2.0","id":"a\"b","method":"tools/call","params":{"name":"up__echo","arguments":{"k":1},` + meta + `}}`, nil, true, `"id":"a\"b"`},
		"arguments not object":           {`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"up__echo","arguments":[1],` + meta + `}}`, nil, true, "tool arguments must be a JSON object"},
		"unknown tool":                   {`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"up__nope",` + meta + `}}`, map[string]string{"Mcp-Name": "up__nope"}, false, `unknown tool`},
		"unknown params field":           {`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"up__echo","extra":1,` + meta + `}}`, nil, false, `"id":4`},
		"object id":                      {`{"jsonrpc":"2.0","id":{"x":1},"method":"tools/call","params":{"name":"up__echo",` + meta + `}}`, nil, false, ""},
		"header name mismatch":           {`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"up__echo",` + meta + `}}`, map[string]string{"Mcp-Name": "other"}, false, ""},
		"json accept only":               {`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"up__echo",` + meta + `}}`, map[string]string{"Accept": "application/json"}, false, ""},
		"member not spelled canonically": {`{"jsonrpc":"2.0","ID":10,"method":"tools/call","params":{"name":"up__echo",` + meta + `}}`, nil, false, ""},
		"fractional id":                  {`{"jsonrpc":"2.0","id":1.0,"method":"tools/call","params":{"name":"up__echo",` + meta + `}}`, nil, false, ""},
		"unsupported version": {`{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"up__echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}}}`,
			map[string]string{"Mcp-Protocol-Version": "2099-01-01"}, false, ""},
		"meta version mismatch": {`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"up__echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}}`, nil, false, ""},
	} {
		t.Run(name, func(t *testing.T) {
			before := gw.fastStats.served.Load()
			status, body := post(gw.URL, tc.body, tc.header)
			if took := gw.fastStats.served.Load() > before; took != tc.fast {
				t.Errorf("fast path taken %v, want %v (HTTP %d %s)", took, tc.fast, status, body)
			}
			// What the fast path leaves is answered exactly as without it.
			if wantStatus, wantBody := post(sdk.URL, tc.body, tc.header); !tc.fast && (status != wantStatus || body != wantBody) {
				t.Errorf("HTTP %d %q, want the SDK's answer HTTP %d %q", status, body, wantStatus, wantBody)
			}
			if !strings.Contains(body, tc.want) {
				t.Errorf("HTTP %d %s, want %q in it", status, body, tc.want)
			}
			if tc.fast && status != http.StatusOK {
				t.Errorf("HTTP %d, want 200 with the JSON-RPC answer", status)
			}
		})
	}
}

// TestSessionIdleTimeout: the gateway closes a 2025 session idle for
// session_idle_timeout, and one in use on the fast path stays open.
func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("up", nil, nil))
	gw := startGatewayConfig(t, nil, func(c *config.Config) {
		c.Servers = []config.Server{upstreamConfig("up", up.URL)}
		c.SessionIdleTimeout = config.Duration(time.Second)
	})
	cs := connect(t, gw.URL, legacy, nil)
	before := gw.fastStats.served.Load()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo"}); err != nil {
			t.Fatalf("a session in use was closed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if gw.fastStats.served.Load() == before {
		t.Fatal("the calls did not take the fast path")
	}
	eventually(t, "the idle session closed", func() bool { return gw.registry.count() == 0 })
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo"}); err == nil {
		t.Error("a call on a session closed for idleness succeeded")
	}
}

// TestFastPathReusesConnections: calls on the fast path reuse their
// connections to the upstream rather than dialling one per call.
func TestFastPathReusesConnections(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("up", nil, nil))
	var dials atomic.Int64
	base := http.DefaultTransport.(*http.Transport).Clone()
	dial := base.DialContext
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}
	opts := testOptions()
	opts.Transport = base
	gw := startGateway(t, opts, upstreamConfig("up", up.URL))
	cs := connect(t, gw.URL, legacy, nil)
	before, served := dials.Load(), gw.fastStats.served.Load()
	for range 50 {
		if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := gw.fastStats.served.Load() - served; n != 50 {
		t.Fatalf("%d of 50 calls took the fast path", n)
	}
	if n := dials.Load() - before; n > 5 {
		t.Errorf("50 calls dialled the upstream %d times", n)
	}
}

// TestFastPathSessionForgotten: an upstream that forgets the session a
// fast-path call goes over (a restart) gets a new one and the call is sent
// once more, whether the session is the fast path's own or the pooled one.
func TestFastPathSessionForgotten(t *testing.T) {
	t.Parallel()
	modernUp := startUpstream(t, echoServer("modern", nil, nil))
	legacyUp := startLegacyUpstream(t, echoServer("legacy", nil, nil))
	gw := startGateway(t, nil, upstreamConfig("modern", modernUp.URL), upstreamConfig("legacy", legacyUp.URL))
	cs := connect(t, gw.URL, legacy, nil)
	for _, tc := range []struct {
		tool string
		up   *testUpstream
	}{{"modern__echo", modernUp}, {"legacy__echo", legacyUp}} {
		for i := range 2 {
			before := gw.fastStats.served.Load()
			res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: tc.tool, Arguments: map[string]any{"i": i}})
			if err != nil || !strings.Contains(textOf(t, res), fmt.Sprintf(`{"i":%d}`, i)) {
				t.Fatalf("%s, call %d: %v %v", tc.tool, i, err, res)
			}
			if gw.fastStats.served.Load() == before {
				t.Errorf("%s, call %d did not take the fast path", tc.tool, i)
			}
			tc.up.forgetSessions()
		}
	}
}

// TestFastPathBoundsRelayedRequests: an upstream that asks the client more
// than maxAsks things at once during one call gets an error for the rest,
// and the client is asked only maxAsks at a time.
func TestFastPathBoundsRelayedRequests(t *testing.T) {
	t.Parallel()
	const asks = maxAsks + 4
	// The client answers once the upstream has had every refusal it is
	// due (or after a while, when it has not: the test then fails).
	release := make(chan struct{})
	s := mcp.NewServer(&mcp.Implementation{Name: "flood"}, nil)
	s.AddTool(&mcp.Tool{Name: "flood", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		errs := make(chan error, asks)
		for range asks {
			go func() {
				_, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "?",
					RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": "string"}}}})
				errs <- err
			}()
		}
		refused := 0
		for range asks {
			if err := <-errs; err != nil {
				if refused++; refused == asks-maxAsks {
					close(release)
				}
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint("refused=", refused)}}}, nil
	})
	up := startLegacyUpstream(t, s)
	gw := startGateway(t, nil, upstreamConfig("f", up.URL))
	var asked atomic.Int64
	cs := connect(t, gw.URL, legacy, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, _ *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.Add(1)
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"x": "y"}}, nil
		},
	})
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "f__flood"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := textOf(t, res), fmt.Sprint("refused=", asks-maxAsks); got != want {
		t.Errorf("%s, want %s", got, want)
	}
	if n := asked.Load(); n != maxAsks {
		t.Errorf("the client was asked %d times, want %d", n, maxAsks)
	}
}

// promptsAndResources serves a prompt and a resource whose read result
// says any cache may keep it.
func promptsAndResources(name string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: name}, nil)
	s.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "who"}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user",
				Content: &mcp.TextContent{Text: name + " greets " + req.Params.Arguments["who"] + " <&>"}}}}, nil
		})
	uri := "notes://" + name + "/a"
	s.AddResource(&mcp.Resource{URI: uri, Name: "a", MIMEType: "text/plain"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			res := &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "text/plain", Text: "note of " + name}}}
			res.TTLMs, res.CacheScope = 5000, "public"
			return res, nil
		})
	return s
}

// TestFastPathPromptsAndResources: prompts/get and resources/read take the
// fast path in both eras, to upstreams of both eras, and answer as the
// SDK's path does; a read result is cacheable only privately.
func TestFastPathPromptsAndResources(t *testing.T) {
	t.Parallel()
	modernUp := startUpstream(t, promptsAndResources("modern"))
	legacyUp := startLegacyUpstream(t, promptsAndResources("legacy"))
	servers := []config.Server{upstreamConfig("modern", modernUp.URL), upstreamConfig("legacy", legacyUp.URL)}
	gw, sdk := fastAndSDKGateways(t, servers...)
	for name, version := range eras {
		t.Run(name, func(t *testing.T) {
			cs := connect(t, gw.URL, version, nil)
			viaSDK := connect(t, sdk.URL, version, nil)
			for _, up := range []string{"modern", "legacy"} {
				before := gw.fastStats.served.Load()
				params := &mcp.GetPromptParams{Name: up + "__greet", Arguments: map[string]string{"who": "ann"}}
				got, err := cs.GetPrompt(ctxTimeout(t), params)
				if err != nil {
					t.Fatalf("%s prompt: %v", up, err)
				}
				want, err := viaSDK.GetPrompt(ctxTimeout(t), params)
				if err != nil {
					t.Fatal(err)
				}
				if g, w := got.Messages[0].Content.(*mcp.TextContent).Text, want.Messages[0].Content.(*mcp.TextContent).Text; g != w || g != up+" greets ann <&>" {
					t.Errorf("%s prompt: fast path %q, SDK's path %q", up, g, w)
				}
				uri := "notes://" + up + "/a"
				read, err := cs.ReadResource(ctxTimeout(t), &mcp.ReadResourceParams{URI: uri})
				if err != nil {
					t.Fatalf("%s read: %v", up, err)
				}
				if read.Contents[0].Text != "note of "+up || read.CacheScope != "private" || read.TTLMs != 5000 {
					t.Errorf("%s read: %q, cache %q for %d ms; want the note, private, 5000 ms", up, read.Contents[0].Text, read.CacheScope, read.TTLMs)
				}
				if n := gw.fastStats.served.Load() - before; n != 2 {
					t.Errorf("%s: %d of the prompt and the read took the fast path", up, n)
				}
			}
			if _, err := cs.ReadResource(ctxTimeout(t), &mcp.ReadResourceParams{URI: "notes://nobody/x"}); err == nil {
				t.Error("a read of an unknown resource succeeded")
			}
		})
	}
}

// TestFastPathIgnoresProgressElsewhere: an upstream that reports a fast-path
// call's progress outside the call's stream (on its session's GET stream)
// is not relayed, and does not bring the gateway down (found in review:
// the SDK's relay took the fast call for one of its own, whose 2026-07-28
// client has no session).
func TestFastPathIgnoresProgressElsewhere(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "p", Version: "1"}, nil)
	sent := make(chan struct{})
	var once sync.Once
	srv.AddTool(&mcp.Tool{Name: "slow", InputSchema: emptyObject},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			// Not related to the request: it goes on the session's GET stream.
			_ = req.Session.NotifyProgress(context.Background(), &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1})
			once.Do(func() { close(sent) })
			time.Sleep(200 * time.Millisecond) // the gateway's SDK client handles it meanwhile
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
		})
	up := startLegacyUpstream(t, srv)
	gw := startGateway(t, nil, upstreamConfig("up", up.URL))
	progress := make(chan struct{}, 1)
	cs := connect(t, gw.URL, modern, &mcp.ClientOptions{ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {
		progress <- struct{}{}
	}})
	p := &mcp.CallToolParams{Name: "up__slow"}
	p.SetProgressToken("tok")
	res, err := cs.CallTool(ctxTimeout(t), p)
	if err != nil || textOf(t, res) != "ok" {
		t.Fatalf("call: %v %v", err, res)
	}
	<-sent
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__slow"}); err != nil {
		t.Errorf("the gateway after the stray progress: %v", err)
	}
	// One more round trip after both calls, so that a relayed progress
	// had its time to reach the client's handler.
	toolNames(t, cs)
	select {
	case <-progress:
		t.Error("progress sent outside the call's stream was relayed")
	default:
	}
}

// TestFastPathCallEndsWithItsSession: a client that ends its session (2025,
// DELETE) with a call in flight on the fast path has the call cancelled
// upstream, as the SDK's path cancels its handlers.
func TestFastPathCallEndsWithItsSession(t *testing.T) {
	t.Parallel()
	started, cancelled := make(chan string, 4), make(chan string, 4)
	up := startUpstream(t, interactiveServer(started, cancelled))
	gw := startGateway(t, nil, upstreamConfig("up", up.URL))
	cs := connect(t, gw.URL, legacy, nil)
	before := gw.fastStats.served.Load()
	callDone := make(chan struct{})
	go func() {
		defer close(callDone)
		cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__block"})
	}()
	defer func() { <-callDone }()
	select {
	case <-started:
	case <-ctxTimeout(t).Done():
		t.Fatal("the call did not reach the upstream")
	}
	// The DELETE a client sends to end its session (the go-sdk client's
	// Close sends it only after its streams end, here 20 s later).
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodDelete, gw.URL, nil)
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Mcp-Protocol-Version", legacy)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("DELETE: HTTP %d", resp.StatusCode)
	}
	select {
	case <-cancelled:
	case <-ctxTimeout(t).Done():
		t.Fatal("the upstream call outlived the client's session")
	}
	eventually(t, "the call answered on the fast path", func() bool { return gw.fastStats.served.Load() > before })
}

// fastAndSDKGateways starts two gateways for servers: one as it runs, one
// with SDKForwarding, whose answers the fast path's must equal.
func fastAndSDKGateways(t *testing.T, servers ...config.Server) (fast, sdk *testGateway) {
	t.Helper()
	opts := testOptions()
	opts.SDKForwarding = true
	return startGateway(t, nil, servers...), startGateway(t, opts, servers...)
}

// TestFastPathHandsOverInputRequired: a 2025 client calling an upstream
// that speaks only 2026-07-28 (no session of the 2025 revisions to ask it
// in) meets an input-required result; the fast path hands the call to the
// SDK's path, which asks the client and retries.
func TestFastPathHandsOverInputRequired(t *testing.T) {
	t.Parallel()
	srv := interactiveServer(make(chan string, 4), make(chan string, 4))
	stateless := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	up := newLoopbackServer(t, stateless)
	gw := startGateway(t, nil, upstreamConfig("up", up.URL+"/mcp"))
	var asked string
	cs := connect(t, gw.URL, legacy, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked = req.Params.Message
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"colour": "teal"}}, nil
		},
	})
	before := gw.fastStats.handedOver.Load()
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__ask"})
	if err != nil {
		t.Fatal(err)
	}
	if got := textOf(t, res); got != "accept:teal" || asked != "favourite colour?" {
		t.Errorf("result %q after being asked %q", got, asked)
	}
	if gw.fastStats.handedOver.Load() == before {
		t.Error("the call was not handed over to the SDK's path")
	}
}
