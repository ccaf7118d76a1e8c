package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bridgeServer is an upstream of the 2025 revisions whose tools ask the
// client during the call: two questions in turn ("rounds", whose runs
// counts, if not nil), two at once ("both"), and roots and sampling.
func bridgeServer(runs *atomic.Int32) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "bridge"}, nil)
	ask := func(ctx context.Context, req *mcp.CallToolRequest, what string) (string, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: what + "?",
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"answer": map[string]any{"type": "string"}}}})
		if err != nil {
			return "", err
		}
		return fmt.Sprint(res.Content["answer"]), nil
	}
	s.AddTool(&mcp.Tool{Name: "rounds", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if runs != nil {
			runs.Add(1)
		}
		name, err := ask(ctx, req, "name")
		if err != nil {
			return nil, err
		}
		colour, err := ask(ctx, req, "colour")
		if err != nil {
			return nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " likes " + colour}}}, nil
	})
	s.AddTool(&mcp.Tool{Name: "both", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		answers := make(chan string, 2)
		for _, q := range []string{"left", "right"} {
			go func() {
				a, err := ask(ctx, req, q)
				if err != nil {
					a = "error: " + err.Error()
				}
				answers <- a
			}()
		}
		a, b := <-answers, <-answers
		if a > b {
			a, b = b, a
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a + "+" + b}}}, nil
	})
	s.AddTool(&mcp.Tool{Name: "roots_and_sampling", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		roots, err := req.Session.ListRoots(ctx, nil)
		if err != nil {
			return nil, err
		}
		msg, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 5,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}})
		if err != nil {
			return nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%d roots, %s", len(roots.Roots), msg.Content.(*mcp.TextContent).Text)}}}, nil
	})
	return s
}

// TestBridgeToModernClient: a go-sdk client of 2026-07-28 calls tools of an
// upstream of the 2025 revisions that ask it for input during the call;
// the gateway asks with input-required results and the client, answering
// them, gets the tools' results: in several rounds, several questions at
// once, and roots and sampling.
func TestBridgeToModernClient(t *testing.T) {
	t.Parallel()
	gw := startGateway(t, nil, upstreamConfig("up", startLegacyUpstream(t, bridgeServer(nil)).URL))
	var asked atomic.Int32
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.Add(1)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"answer": strings.TrimSuffix(req.Params.Message, "?") + "!"}}, nil
		},
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "hello"}}, nil
		},
	})
	c.AddRoots(&mcp.Root{URI: "file:///a"}, &mcp.Root{URI: "file:///b"})
	cs, err := c.Connect(ctxTimeout(t), &mcp.StreamableClientTransport{Endpoint: gw.URL}, &mcp.ClientSessionOptions{ProtocolVersion: modern})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	for tool, want := range map[string]string{
		"rounds":             "name! likes colour!",
		"both":               "left!+right!",
		"roots_and_sampling": "2 roots, hello",
	} {
		res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__" + tool})
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if got := textOf(t, res); got != want || res.IsError {
			t.Errorf("%s: %q (isError %v), want %q", tool, got, res.IsError, want)
		}
	}
	if n := asked.Load(); n != 4 {
		t.Errorf("the client was asked %d times, want 4", n)
	}
}

// TestBridgeStates: the requestState of a bridged call is the gateway's
// own, sealed and bound: a tampered state, one of another caller, one for
// another tool, one used already, one that expired and one given by
// another replica are refused with an error that says to start over (and
// starting over at that replica works); a
// retry without the response asked for is asked again; the right answers
// take the call to its result.
func TestBridgeStates(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	up, up2 := startLegacyUpstream(t, bridgeServer(&runs)), startLegacyUpstream(t, bridgeServer(nil))
	opts := testOptions()
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{signedInByHeader}
	gw := startGateway(t, opts, upstreamConfig("up", up.URL), upstreamConfig("up2", up2.URL))
	other := startGateway(t, opts, upstreamConfig("up", up.URL)) // another replica
	type answer struct {
		Result struct {
			ResultType    string                     `json:"resultType"`
			InputRequests map[string]json.RawMessage `json:"inputRequests"`
			RequestState  string                     `json:"requestState"`
			Content       []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	extra := "" // a param the fast path does not know: the SDK's path serves the request
	call := func(url, user, tool, state, responses string) answer {
		t.Helper()
		params := `"name":"` + tool + `","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",` +
			`"io.modelcontextprotocol/clientCapabilities":{"elicitation":{}},"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}` + extra
		if state != "" {
			params += `,"requestState":"` + state + `","inputResponses":` + responses
		}
		status, _, got := postMCPHeader(t, url, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{`+params+`}}`,
			map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": "tools/call", "Mcp-Name": tool, "X-Test-User": user})
		var a answer
		if err := json.Unmarshal([]byte(got), &a); err != nil || (status != http.StatusOK) != (a.Error != nil && a.Error.Code == -32602) {
			t.Fatalf("HTTP %d %q: %v (want 200, or 400 for invalid params)", status, got, err)
		}
		return a
	}
	refused := func(a answer, why, what string) {
		t.Helper()
		if a.Error == nil || a.Error.Code != -32602 || !strings.Contains(a.Error.Message, why) || !strings.Contains(a.Error.Message, "start over") {
			t.Errorf("%s: %+v, want -32602 saying %q and to start over", what, a, why)
		}
	}
	reply := func(key, text string) string {
		return `{"` + key + `":{"action":"accept","content":{"answer":"` + text + `"}}}`
	}

	first := call(gw.URL, "alice", "up__rounds", "", "")
	if first.Result.ResultType != "input_required" || len(first.Result.InputRequests) != 1 || !strings.HasPrefix(first.Result.RequestState, stateTag) {
		t.Fatalf("first call: %+v, want input_required with one request and the gateway's state", first)
	}
	var key string
	for key = range first.Result.InputRequests {
	}
	state := first.Result.RequestState
	sealed, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(state, stateTag))
	if err != nil {
		t.Fatal(err)
	}
	sealed[len(sealed)-5] ^= 1
	tampered := stateTag + base64.RawURLEncoding.EncodeToString(sealed)
	refused(call(gw.URL, "alice", "up__rounds", tampered, reply(key, "Ann")), "was changed", "tampered")
	refused(call(gw.URL, "bob", "up__rounds", state, reply(key, "Ann")), "another caller", "bob's retry")
	refused(call(gw.URL, "alice", "up__both", state, reply(key, "Ann")), "another request", "another tool")
	refused(call(gw.URL, "alice", "up2__rounds", state, reply(key, "Ann")), "another request", "the same tool of another server")
	refused(call(other.URL, "alice", "up__rounds", state, reply(key, "Ann")), "not given by this gateway replica", "another replica")
	// Told to start over, the client calls again at the replica it
	// reached, which takes the call to its result.
	over := call(other.URL, "alice", "up__rounds", "", "")
	for round, answer := range []string{"Bo", "red"} {
		var k string
		for k = range over.Result.InputRequests {
		}
		if over.Result.ResultType != "input_required" || k == "" {
			t.Fatalf("started over at another replica, round %d: %+v, want a question", round, over)
		}
		over = call(other.URL, "alice", "up__rounds", over.Result.RequestState, reply(k, answer))
	}
	if over.Result.ResultType != "complete" || len(over.Result.Content) != 1 || over.Result.Content[0].Text != "Bo likes red" {
		t.Errorf("started over at another replica: %+v, want the tool's result there", over)
	}
	extra = `,"x-extra":1`
	refused(call(gw.URL, "alice", "up__rounds", state, reply(key, "Ann")), "cannot resume", "a retry off the fast path")
	extra = ""

	again := call(gw.URL, "alice", "up__rounds", state, `{}`)
	if _, asked := again.Result.InputRequests[key]; again.Result.ResultType != "input_required" || !asked || again.Result.RequestState == state {
		t.Fatalf("retry without the response: %+v, want %s asked again under a new state", again, key)
	}
	refused(call(gw.URL, "alice", "up__rounds", state, reply(key, "Ann")), "has ended or was answered", "the used state")
	second := call(gw.URL, "alice", "up__rounds", again.Result.RequestState, reply(key, "Ann"))
	var key2 string
	for key2 = range second.Result.InputRequests {
	}
	if second.Result.ResultType != "input_required" || key2 == "" || key2 == key {
		t.Fatalf("second round: %+v, want the next question", second)
	}
	done := call(gw.URL, "alice", "up__rounds", second.Result.RequestState, reply(key2, "teal"))
	if done.Result.ResultType != "complete" || len(done.Result.Content) != 1 || done.Result.Content[0].Text != "Ann likes teal" {
		t.Errorf("last round: %+v, want the tool's result", done)
	}

	// One caller parks at most maxParkedPerCaller calls: the next is
	// refused before the tool runs; others are not held up.
	for i := range maxParkedPerCaller {
		if a := call(gw.URL, "bob", "up__rounds", "", ""); a.Result.ResultType != "input_required" {
			t.Fatalf("bob's call %d: %+v, want it parked", i, a)
		}
	}
	before := runs.Load()
	if a := call(gw.URL, "bob", "up__rounds", "", ""); a.Error == nil || !strings.Contains(a.Error.Message, "too many calls") {
		t.Errorf("bob's call over the bound: %+v, want refused", a)
	}
	if n := runs.Load() - before; n != 0 {
		t.Errorf("the tool ran %d times for the call refused", n)
	}
	if a := call(gw.URL, "alice", "up__rounds", "", ""); a.Result.ResultType != "input_required" {
		t.Errorf("alice's call while bob's are parked: %+v", a)
	}

	// Shutting down ends every parked call and parks no more.
	parked := call(other.URL, "alice", "up__rounds", "", "")
	other.parked.closeAll()
	for key = range parked.Result.InputRequests {
	}
	refused(call(other.URL, "alice", "up__rounds", parked.Result.RequestState, reply(key, "Ann")), "has ended", "a call of a gateway shutting down")
	if a := call(other.URL, "alice", "up__rounds", "", ""); a.Error == nil || !strings.Contains(a.Error.Message, "shutting down") {
		t.Errorf("a call to a gateway shutting down: %+v, want refused", a)
	}

	gw.parked.ttl.Store(int64(50 * time.Millisecond))
	late := call(gw.URL, "alice", "up__rounds", "", "")
	time.Sleep(100 * time.Millisecond)
	for key = range late.Result.InputRequests {
	}
	refused(call(gw.URL, "alice", "up__rounds", late.Result.RequestState, reply(key, "Ann")), "expired", "a late retry")
}
