package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var emptyObject = json.RawMessage(`{"type":"object"}`)

// interactiveServer has tools that report progress, block until cancelled,
// ask the client for input (with a server request in the 2025 revisions, an
// input-required result in 2026-07-28) and log.
func interactiveServer(started, cancelled chan<- string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "interactive"}, nil)
	s.AddTool(&mcp.Tool{Name: "count", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		token := req.Params.GetProgressToken()
		for i := 1; i <= 3; i++ {
			if token != nil {
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(i), Total: 3, Message: "step"})
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "counted"}}}, nil
	})
	s.AddTool(&mcp.Tool{Name: "block", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		started <- "block"
		<-ctx.Done()
		cancelled <- "block"
		return nil, ctx.Err()
	})
	s.AddTool(&mcp.Tool{Name: "ask", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ask := &mcp.ElicitParams{Message: "favourite colour?",
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"colour": map[string]any{"type": "string"}}}}
		if v := req.Session.InitializeParams(); v == nil || v.ProtocolVersion >= modern {
			if r, ok := req.Params.InputResponses["colour"].(*mcp.ElicitResult); ok {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: r.Action + ":" + r.Content["colour"].(string)}}}, nil
			}
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"colour": ask}}, nil
		}
		res, err := req.Session.Elicit(ctx, ask)
		if err != nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "elicit: " + err.Error()}}}, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: res.Action + ":" + res.Content["colour"].(string)}}}, nil
	})
	s.AddTool(&mcp.Tool{Name: "chatty", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "chatty", Data: "hello from upstream"})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "logged"}}}, nil
	})
	return s
}

func TestProgressReachesTheCallingRequest(t *testing.T) {
	t.Parallel()
	legacyUp := startLegacyUpstream(t, interactiveServer(make(chan string, 4), make(chan string, 4)))
	modernUp := startUpstream(t, interactiveServer(make(chan string, 4), make(chan string, 4)))
	gw := startGateway(t, nil, upstreamConfig("legacy", legacyUp.URL), upstreamConfig("modern", modernUp.URL))
	for name, c := range upstreamsByEra(eras) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			version, server := c[0], c[1]
			progress := make(chan mcp.ProgressNotificationParams, 8)
			cs := connect(t, gw.URL, version, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
					progress <- *req.Params
				},
			})
			params := &mcp.CallToolParams{Name: server + "__count"}
			params.SetProgressToken("client-token-7")
			if _, err := cs.CallTool(ctxTimeout(t), params); err != nil {
				t.Fatal(err)
			}
			// The client runs notification handlers asynchronously: the
			// last may run after CallTool returned.
			for i := range 3 {
				var p mcp.ProgressNotificationParams
				select {
				case p = <-progress:
				case <-ctxTimeout(t).Done():
					t.Fatalf("%d progress notifications, want 3", i)
				}
				if p.ProgressToken != "client-token-7" || p.Total != 3 {
					t.Errorf("progress %+v: want the client's own token and total 3", p)
				}
			}
		})
	}
}

func TestCancellationReachesUpstream(t *testing.T) {
	t.Parallel()
	started, cancelled := make(chan string, 4), make(chan string, 4)
	legacyUp := startLegacyUpstream(t, interactiveServer(started, cancelled))
	modernUp := startUpstream(t, interactiveServer(started, cancelled))
	gw := startGateway(t, nil, upstreamConfig("legacy", legacyUp.URL), upstreamConfig("modern", modernUp.URL))
	for name, c := range upstreamsByEra(eras) {
		t.Run(name, func(t *testing.T) {
			version, server := c[0], c[1]
			cs := connect(t, gw.URL, version, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: server + "__block"})
				done <- err
			}()
			<-started // the upstream handler returns only once cancelled
			cancel()
			if got := <-cancelled; got != "block" {
				t.Fatalf("cancelled %q", got)
			}
			if err := <-done; err == nil {
				t.Error("cancelled call returned no error")
			}
		})
	}
}

// upstreamsByEra pairs every client era with an upstream of each era: the
// subtest name is "client/upstream", the value {client version, upstream name}.
func upstreamsByEra(clients map[string]string) map[string][2]string {
	out := map[string][2]string{}
	for name, version := range clients {
		out[name+"/legacy-upstream"] = [2]string{version, "legacy"}
		out[name+"/modern-upstream"] = [2]string{version, "modern"}
	}
	return out
}

func TestElicitationReachesTheCallingSession(t *testing.T) {
	t.Parallel()
	legacyUp := startLegacyUpstream(t, interactiveServer(make(chan string, 4), make(chan string, 4)))
	modernUp := startUpstream(t, interactiveServer(make(chan string, 4), make(chan string, 4)))
	gw := startGateway(t, nil, upstreamConfig("legacy", legacyUp.URL), upstreamConfig("modern", modernUp.URL))
	cases := map[string]struct {
		client, server string
		wantRefusal    bool // the eras cannot be bridged
	}{
		"legacy client, legacy upstream (server request relayed)": {legacy, "legacy", false},
		"legacy client, 2026 upstream (input-required fulfilled)": {legacy, "modern", false},
		"2026 client, 2026 upstream (input-required passed on)":   {modern, "modern", false},
		"2026 client, legacy upstream (bridged, input-required)":  {modern, "legacy", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var asked string
			cs := connect(t, gw.URL, tc.client, &mcp.ClientOptions{
				ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					asked = req.Params.Message
					if _, leaked := req.Params.Meta[callMetaKey]; leaked {
						t.Errorf("gateway tag reached the client: %v", req.Params.Meta)
					}
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"colour": "teal"}}, nil
				},
			})
			// Another client, which must not be asked.
			connect(t, gw.URL, tc.client, &mcp.ClientOptions{
				ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					t.Error("elicitation reached a client that did not make the call")
					return nil, nil
				},
			})
			res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: tc.server + "__ask"})
			if err != nil {
				t.Fatal(err)
			}
			got := textOf(t, res)
			if tc.wantRefusal {
				if !res.IsError || !strings.Contains(got, "2026-07-28") {
					t.Errorf("got %q (isError %v), want the upstream to see a clear refusal", got, res.IsError)
				}
				return
			}
			if got != "accept:teal" || asked != "favourite colour?" {
				t.Errorf("result %q after being asked %q", got, asked)
			}
		})
	}
}

func TestLogMessagesRelayedToTheCallingSession(t *testing.T) {
	t.Parallel()
	up := startLegacyUpstream(t, interactiveServer(make(chan string, 4), make(chan string, 4)))
	gw := startGateway(t, nil, upstreamConfig("up", up.URL))
	logs := make(chan *mcp.LoggingMessageParams, 4)
	cs := connect(t, gw.URL, legacy, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) { logs <- req.Params },
	})
	if err := cs.SetLoggingLevel(ctxTimeout(t), &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__chatty"}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-logs:
		if p.Data != "hello from upstream" || p.Meta[callMetaKey] != nil {
			t.Errorf("log message %+v", p)
		}
	case <-ctxTimeout(t).Done():
		t.Fatal("no log message relayed")
	}
	// A second session at the same level gets only its own call's message:
	// the first call's, sent before this call began, would have come first.
	other := make(chan *mcp.LoggingMessageParams, 4)
	cs2 := connect(t, gw.URL, legacy, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) { other <- req.Params },
	})
	if err := cs2.SetLoggingLevel(ctxTimeout(t), &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__chatty"}); err != nil {
		t.Fatal(err)
	}
	recvLog(t, logs, "the first session's second message")
	if _, err := cs2.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__chatty"}); err != nil {
		t.Fatal(err)
	}
	recvLog(t, other, "the second session's own message")
	select {
	case p := <-other:
		t.Errorf("the second session got another session's log message too: %+v", p)
	default:
	}
}

func recvLog(t *testing.T, ch chan *mcp.LoggingMessageParams, what string) *mcp.LoggingMessageParams {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-ctxTimeout(t).Done():
		t.Fatalf("no log message: %s", what)
		return nil
	}
}

// TestMissingClientCapability: an upstream of the 2025 revisions is called
// for a 2026-07-28 client over a session that declares what the client
// declared, so a well-behaved upstream sees that the client cannot be
// asked; one that asks all the same (askingUpstream) makes the call fail
// with MissingRequiredClientCapability (-32021, HTTP 400, the capability
// in its data), and its own request fails with the same error.
func TestMissingClientCapability(t *testing.T) {
	t.Parallel()
	honest := mcp.NewServer(&mcp.Implementation{Name: "honest"}, nil)
	honest.AddTool(&mcp.Tool{Name: "ask", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		_, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "colour?", RequestedSchema: map[string]any{"type": "object"}})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("elicit: %v", err)}}}, nil
	})
	asking, answered := askingUpstream(t)
	gw := startGateway(t, nil, upstreamConfig("honest", startLegacyUpstream(t, honest).URL), upstreamConfig("asking", asking))
	call := func(tool, caps string) (int, string) {
		body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":{},"_meta":{` +
			`"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":` + caps + `,` +
			`"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}}}`
		status, _, got := postMCPHeader(t, gw.URL, body, map[string]string{"Mcp-Protocol-Version": modern,
			"Mcp-Method": "tools/call", "Mcp-Name": tool})
		return status, got
	}
	if _, got := call("honest__ask", `{"sampling":{}}`); !strings.Contains(got, "does not support elicitation") {
		t.Errorf("the honest upstream saw a client that can be asked for elicitation: %s", got)
	}
	status, got := call("asking__ask", `{"sampling":{}}`)
	var resp struct {
		ID    int `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    struct {
				RequiredCapabilities map[string]any `json:"requiredCapabilities"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(got), &resp); err != nil {
		t.Fatalf("answer %q: %v", got, err)
	}
	if _, named := resp.Error.Data.RequiredCapabilities["elicitation"]; status != http.StatusBadRequest || resp.ID != 7 ||
		resp.Error.Code != -32021 || !strings.Contains(resp.Error.Message, "elicitation capability") || !named {
		t.Errorf("HTTP %d %s, want 400 with error -32021 naming the elicitation capability, in its data too", status, got)
	}
	select {
	case answer := <-answered:
		if !strings.Contains(answer, "-32021") {
			t.Errorf("the upstream's request was answered %s", answer)
		}
	case <-ctxTimeout(t).Done():
		t.Error("the upstream's request got no answer")
	}
}

// askingUpstream is a go-sdk server of the 2025 revisions, except that its
// tool "ask" asks the client for elicitation whatever the client declared,
// on the call's stream, and answers the call once the answer to that
// request arrives (sent on answered).
func askingUpstream(t *testing.T) (string, <-chan string) {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "asking"}, nil)
	s.AddTool(&mcp.Tool{Name: "ask", InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	answers, answered := make(chan string, 1), make(chan string, 1)
	srv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg rpcPeek
		_ = json.Unmarshal(body, &msg)
		switch {
		case msg.Method == "tools/call" && msg.Params.Name == "ask":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, `data: {"jsonrpc":"2.0","id":"asked-1","method":"elicitation/create","params":{"message":"colour?","requestedSchema":{"type":"object"}}}`+"\n\n")
			w.(http.Flusher).Flush()
			select {
			case a := <-answers:
				answered <- a
				fmt.Fprintf(w, `data: {"jsonrpc":"2.0","id":%s,"result":{"content":[]}}`+"\n\n", msg.ID)
			case <-r.Context().Done():
				// The gateway may end the call's stream right after it
				// answered: the answer counts all the same.
				select {
				case a := <-answers:
					answered <- a
				default:
				}
			}
		case msg.Method == "" && string(msg.ID) == `"asked-1"`:
			answers <- string(body)
			w.WriteHeader(http.StatusAccepted)
		default:
			r.Body = io.NopCloser(bytes.NewReader(body))
			sdk.ServeHTTP(w, r)
		}
	}))
	return srv.URL + "/mcp", answered
}

// TestModernClientOfLegacyUpstream: a 2026-07-28 client's call to an
// upstream of the 2025 revisions is answered as 2026-07-28 results are
// (resultType "complete"), and gets the upstream's log messages only when
// the request asked for a level, at that level or above.
func TestModernClientOfLegacyUpstream(t *testing.T) {
	t.Parallel()
	up := startLegacyUpstream(t, interactiveServer(make(chan string, 4), make(chan string, 4)))
	gw := startGateway(t, nil, upstreamConfig("up", up.URL))
	call := func(level string) string {
		meta := `"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},` +
			`"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}`
		if level != "" {
			meta += `,"io.modelcontextprotocol/logLevel":"` + level + `"`
		}
		body := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"up__chatty","arguments":{},"_meta":{` + meta + `}}}`
		status, _, got := postMCPHeader(t, gw.URL, body, map[string]string{"Mcp-Protocol-Version": modern,
			"Mcp-Method": "tools/call", "Mcp-Name": "up__chatty"})
		if status != http.StatusOK || strings.Count(got, `"resultType":"complete"`) != 1 || !strings.Contains(got, `"text":"logged"`) {
			t.Errorf("level %q: HTTP %d %s, want the result with resultType complete once", level, status, got)
		}
		return got
	}
	for level, wantLog := range map[string]bool{"": false, "debug": true, "info": true, "error": false} {
		if got := strings.Contains(call(level), "hello from upstream"); got != wantLog {
			t.Errorf("level %q: log message relayed %v, want %v", level, got, wantLog)
		}
	}
}

// TestStampResultType: a result object gains resultType "complete", or
// "input_required" when it carries input requests, unless it has one;
// keys are matched exactly (no duplicate key, whatever the case of the
// upstream's); anything but an object is an error.
func TestStampResultType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{}`:                               `{"resultType":"complete"}`,
		` { } `:                            `{"resultType":"complete"}`,
		`{"content":[]}`:                   `{"resultType":"complete","content":[]}`,
		`{"a":{"b":"}"}}`:                  `{"resultType":"complete","a":{"b":"}"}}`,
		`{"resultType":null,"content":[]}`: `{"resultType":"complete","content":[]}`,
		`{"resultType":"","content":[]}`:   `{"resultType":"complete","content":[]}`,
		`{"ResultType":"complete"}`:        `{"resultType":"complete","ResultType":"complete"}`,
		`{"resultType":"input_required"}`:  `{"resultType":"input_required"}`,
		`{"inputRequests":{"k":{}},"requestState":"s"}`: `{"resultType":"input_required","inputRequests":{"k":{}},"requestState":"s"}`,
		`{"inputrequests":{"k":{}}}`:                    `{"resultType":"complete","inputrequests":{"k":{}}}`,
		`{"inputRequests":{}}`:                          `{"resultType":"complete","inputRequests":{}}`,
		`{"text":"<&>"}`:                                `{"resultType":"complete","text":"<&>"}`,
	} {
		got, err := stampResultType(json.RawMessage(in))
		var g, w any
		if err != nil || json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil || !reflect.DeepEqual(g, w) ||
			strings.Count(string(got), `"resultType"`) != 1 || strings.Contains(string(got), `\u003c`) {
			t.Errorf("stampResultType(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{``, `null`, `[]`, `"x"`} {
		if got, err := stampResultType(json.RawMessage(in)); err == nil {
			t.Errorf("stampResultType(%q) = %s, want an error", in, got)
		}
	}
}
