package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/config"
)

// sseEvent is one event as a client reads it.
type sseEvent struct{ name, id, retry, data string }

// readSSE reads events from an event stream until it ends or n events
// came (n < 0: until it ends).
func readSSE(t *testing.T, r *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var ev sseEvent
	var seen bool
	for n < 0 || len(out) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			return out
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if seen {
				out = append(out, ev)
			}
			ev, seen = sseEvent{}, false
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimPrefix(v, " ")
		seen = true
		switch k {
		case "event":
			ev.name = v
		case "id":
			ev.id = v
		case "retry":
			ev.retry = v
		case "data":
			ev.data += v
		}
	}
	return out
}

// sseRequest sends a request of session to the gateway at url and
// returns the open answer (the caller closes its body).
func sseRequest(t *testing.T, ctx context.Context, method, url, session, body string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	for k, v := range sessionHeader(session) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// startWaitGateway runs a gateway in front of a waitServer and connects a
// client of 2025-11-25 to it.
func startWaitGateway(t *testing.T) (gw *testGateway, cs *mcp.ClientSession, started, release chan struct{}, ended *atomic.Value) {
	started, release, ended = make(chan struct{}), make(chan struct{}), new(atomic.Value)
	up := startLegacyUpstream(t, waitServer(started, release, ended))
	gw = startGateway(t, nil, noPrefix(upstreamConfig("up", up.URL)))
	return gw, connect(t, gw.URL, legacy, nil), started, release, ended
}

// waitServer is an upstream whose tool "wait" reports progress, closes
// started and waits for release (or its end), keeping its context's error
// in ended when it returns.
func waitServer(started, release chan struct{}, ended *atomic.Value) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "slow"}, nil)
	s.AddTool(&mcp.Tool{Name: "wait", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1, Message: "begun"})
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
		}
		ended.Store(fmt.Sprint(ctx.Err()))
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "waited"}}}, nil
	})
	return s
}

// A call on the fast path whose answer became a stream outlives its
// client's connection, and the client resumes the stream with
// Last-Event-ID on this replica.
func TestResumeFastPathStream(t *testing.T) {
	gw, cs, started, release, ended := startWaitGateway(t)
	session := cs.ID()

	ctx, drop := context.WithCancel(ctxTimeout(t))
	resp := sseRequest(t, ctx, http.MethodPost, gw.URL, session,
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"wait","arguments":{},"_meta":{"progressToken":"p"}}}`, nil)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("answer is %s, want an event stream", ct)
	}
	first := readSSE(t, bufio.NewReader(resp.Body), 2)
	if len(first) != 2 {
		t.Fatalf("got %d events before the connection dropped, want the priming event and the progress: %+v", len(first), first)
	}
	prime, progress := first[0], first[1]
	if prime.name != "prime" || prime.data != "" || !strings.HasSuffix(prime.id, "_0") || prime.retry == "" {
		t.Errorf("first event %+v, want a priming event: an id ending _0, a retry field, no data", prime)
	}
	stream, _, _ := strings.Cut(prime.id, "_")
	if progress.id != stream+"_1" || !strings.Contains(progress.data, `"begun"`) {
		t.Errorf("second event %+v, want the progress as event %s_1", progress, stream)
	}
	<-started
	drop() // the client's connection goes, mid-call
	resp.Body.Close()

	// The call goes on: the tool is not cancelled. (Not a timing
	// assertion: the pause only gives a wrong cancellation the time to
	// reach the tool, which would then fail the test.)
	time.Sleep(100 * time.Millisecond)
	close(release)
	eventually(t, "the tool returned", func() bool { return ended.Load() != nil })
	if got := ended.Load(); got != "<nil>" {
		t.Fatalf("the tool's context ended with %v after the client's connection dropped, want the call to go on", got)
	}

	resumed := sseRequest(t, ctxTimeout(t), http.MethodGet, gw.URL, session, "", map[string]string{"Last-Event-ID": progress.id})
	defer resumed.Body.Close()
	if resumed.StatusCode != http.StatusOK {
		t.Fatalf("resume after %s: HTTP %d", progress.id, resumed.StatusCode)
	}
	rest := readSSE(t, bufio.NewReader(resumed.Body), -1)
	if len(rest) != 1 || rest[0].id != stream+"_2" || !strings.Contains(rest[0].data, `"id":7`) || !strings.Contains(rest[0].data, "waited") {
		t.Fatalf("resumed stream %+v, want the call's result as event %s_2, then the end", rest, stream)
	}

	// From the priming event: everything with data, in order.
	again := sseRequest(t, ctxTimeout(t), http.MethodGet, gw.URL, session, "", map[string]string{"Last-Event-ID": prime.id})
	defer again.Body.Close()
	if all := readSSE(t, bufio.NewReader(again.Body), -1); len(all) != 2 || all[0].id != progress.id || all[1].id != rest[0].id {
		t.Fatalf("resumed from the priming event: %+v, want the progress and the result", all)
	}
	if gw.fastStats.served.Load() == 0 {
		t.Error("the call did not take the fast path")
	}

	// What cannot be resumed is refused, saying why.
	for _, c := range []struct{ lastID, want string }{
		{stream + "_x", "malformed Last-Event-ID"},
		{stream + "_-1", "malformed Last-Event-ID"},
		{replayPrefix + "00000000_1", "does not hold it"},
	} {
		r := sseRequest(t, ctxTimeout(t), http.MethodGet, gw.URL, session, "", map[string]string{"Last-Event-ID": c.lastID})
		body := readBody(r)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("resume after %q: HTTP %d %q, want 400 saying %q", c.lastID, r.StatusCode, body, c.want)
		}
	}
	// Another session cannot resume this one's stream.
	other := connect(t, gw.URL, legacy, nil)
	r := sseRequest(t, ctxTimeout(t), http.MethodGet, gw.URL, other.ID(), "", map[string]string{"Last-Event-ID": progress.id})
	if body := readBody(r); r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "does not hold it") {
		t.Errorf("another session resuming the stream: HTTP %d %q, want 400", r.StatusCode, body)
	}
}

func readBody(r *http.Response) string {
	defer r.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		b.WriteString(sc.Text())
	}
	return b.String()
}

// A call whose answer had not become a stream ends with its client's
// connection: there is nothing the client could resume.
func TestUnstreamedCallEndsWithConnection(t *testing.T) {
	started, cancelled := make(chan string, 1), make(chan string, 1)
	up := startLegacyUpstream(t, interactiveServer(started, cancelled))
	gw := startGateway(t, nil, noPrefix(upstreamConfig("up", up.URL)))
	cs := connect(t, gw.URL, legacy, nil)
	ctx, drop := context.WithCancel(ctxTimeout(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.DefaultClient.Do(func() *http.Request {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL, strings.NewReader(
				`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"block","arguments":{}}}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for k, v := range sessionHeader(cs.ID()) {
				req.Header.Set(k, v)
			}
			return req
		}())
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	drop()
	<-done
	select {
	case <-cancelled:
	case <-ctxTimeout(t).Done():
		t.Fatal("the upstream's call was not cancelled when the client's connection went before any event")
	}
}

// An upstream that closes a call's stream mid-call (SEP-1699) is resumed
// by the gateway with Last-Event-ID, on the fast path for clients of both
// revisions: the call is not sent again.
func TestUpstreamClosesCallStream(t *testing.T) {
	var resumes, calls atomic.Int32
	resumed := make(chan struct{}, 8)
	s := mcp.NewServer(&mcp.Implementation{Name: "polling"}, nil)
	s.AddTool(&mcp.Tool{Name: "poll", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		calls.Add(1)
		req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1})
		req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 5 * time.Millisecond})
		select { // answer once the client came back for the rest
		case <-resumed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "nobody resumed"}}}, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "polled"}}}, nil
	})
	store := mcp.NewMemoryEventStore(nil)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{EventStore: store})
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") != "" {
			resumes.Add(1)
			resumed <- struct{}{}
		}
		h.ServeHTTP(w, r)
	}))
	gw := startGateway(t, nil, noPrefix(upstreamConfig("up", up.URL+"/mcp")))
	for _, version := range []string{legacy, modern} {
		cs := connect(t, gw.URL, version, nil)
		before := gw.fastStats.served.Load()
		res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "poll", Arguments: map[string]any{}, Meta: mcp.Meta{"progressToken": "t"}})
		if err != nil {
			t.Fatalf("%s: call: %v", version, err)
		}
		if res.IsError || textOf(t, res) != "polled" {
			t.Fatalf("%s: result %q (isError %v), want polled", version, textOf(t, res), res.IsError)
		}
		if gw.fastStats.served.Load() == before {
			t.Errorf("%s: the call did not take the fast path", version)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the tool ran %d times for 2 calls: a closed stream must be resumed, not called again", n)
	}
	if n := resumes.Load(); n < 2 {
		t.Errorf("the upstream saw %d resumptions, want one per call", n)
	}
}

// The cursor takes an event's id when the event is dispatched: a stream
// cut inside an event is resumed from the event before it, so the event
// is read again.
func TestSSECursorIDAtDispatch(t *testing.T) {
	stream := "id: S_1\nretry: 7\ndata: {\"method\":\"notifications/progress\"}\n\n" +
		"id: S_2\ndata: {\"id\":\"x\",\"result\":{}}\n" // cut before the blank line
	var cur sseCursor
	var got int
	err := readEvents(bufio.NewReader(strings.NewReader(stream)), &cur, 1<<20, func([]byte) (bool, error) { got++; return false, nil })
	if !errors.Is(err, errStreamEnded) || got != 1 || cur.id != "S_1" || cur.retry != 7*time.Millisecond {
		t.Fatalf("err %v, %d events, cursor %+v: want the stream ended after one event, resumed from S_1 with retry 7ms", err, got, cur)
	}
}

// What a stream hands a resume stays as it was while the stream drops
// its oldest events; the bounds hold, and a resume from before what is
// kept is refused rather than served with a gap.
func TestReplayStreamBounds(t *testing.T) {
	var budget atomic.Int64
	rs := newReplayStream(&budget)
	rs.add(nil)
	big := bytes.Repeat([]byte("x"), replayBytes/4)
	for range 4 {
		rs.add(big)
	}
	events, next, _, _, ok := rs.after(0)
	if !ok || len(events) != 4 || next != 4 {
		t.Fatalf("after the priming event: %d events up to %d (ok %v), want 4 up to 4", len(events), next, ok)
	}
	for range 4 {
		rs.add(big) // drops from the front
	}
	for i, e := range events {
		if !bytes.Equal(e, big) {
			t.Fatalf("event %d handed to the resume changed when the stream dropped its oldest", i)
		}
	}
	if _, _, _, _, ok := rs.after(0); ok {
		t.Error("a resume from before the events kept was not refused")
	}
	if b := budget.Load(); b > replayBytes {
		t.Errorf("one stream keeps %d bytes, over %d", b, replayBytes)
	}
	huge := bytes.Repeat([]byte("y"), replayBytes+1)
	id := rs.add(huge)
	if _, _, _, _, ok := rs.after(8); ok || !strings.HasSuffix(id, "_9") {
		t.Errorf("an event over the bound (id %s) was kept for a resume", id)
	}
	rs.forget()
	if b := budget.Load(); b != 0 {
		t.Errorf("a forgotten stream still counts %d bytes", b)
	}
}

// While the call's own connection writes its stream, a GET cannot resume
// it (nothing reaches the client twice); once the connection went, a
// caught-up resume answers its headers at once and waits for the rest.
func TestResumeOneWriter(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s := mcp.NewServer(&mcp.Implementation{Name: "slow"}, nil)
	s.AddTool(&mcp.Tool{Name: "wait", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1})
		close(started)
		<-release
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "waited"}}}, nil
	})
	up := startLegacyUpstream(t, s)
	gw := startGateway(t, nil, noPrefix(upstreamConfig("up", up.URL)))
	cs := connect(t, gw.URL, legacy, nil)
	ctx, drop := context.WithCancel(ctxTimeout(t))
	resp := sseRequest(t, ctx, http.MethodPost, gw.URL, cs.ID(),
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"wait","arguments":{},"_meta":{"progressToken":"p"}}}`, nil)
	first := readSSE(t, bufio.NewReader(resp.Body), 2)
	<-started
	r := sseRequest(t, ctxTimeout(t), http.MethodGet, gw.URL, cs.ID(), "", map[string]string{"Last-Event-ID": first[1].id})
	if body := readBody(r); r.StatusCode != http.StatusConflict {
		t.Errorf("resume while the call's connection writes it: HTTP %d %q, want 409", r.StatusCode, body)
	}
	drop()
	resp.Body.Close()
	var resumed *http.Response
	eventually(t, "a resume is taken once the connection went", func() bool {
		resumed = sseRequest(t, ctxTimeout(t), http.MethodGet, gw.URL, cs.ID(), "", map[string]string{"Last-Event-ID": first[1].id})
		if resumed.StatusCode == http.StatusOK {
			return true // the headers came before any event
		}
		resumed.Body.Close()
		return false
	})
	defer resumed.Body.Close()
	close(release)
	if rest := readSSE(t, bufio.NewReader(resumed.Body), -1); len(rest) != 1 || !strings.Contains(rest[0].data, "waited") {
		t.Fatalf("resumed stream %+v, want the result", rest)
	}
}

// What the SDK's path answers a 2025 session (here a call with a param the
// fast path does not know) is resumable too: primed, every event with an
// id, the call going on when the connection drops, the rest resumed.
func TestResumeSDKPath(t *testing.T) {
	gw, cs, started, release, ended := startWaitGateway(t)

	list := sseRequest(t, ctxTimeout(t), http.MethodPost, gw.URL, cs.ID(), `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}}`, nil)
	events := readSSE(t, bufio.NewReader(list.Body), -1)
	list.Body.Close()
	if len(events) != 2 || events[0].name != "prime" || !strings.HasPrefix(events[1].id, replayPrefix) || !strings.Contains(events[1].data, `"wait"`) {
		t.Fatalf("tools/list answered %+v, want a priming event, then the list with an id", events)
	}
	// Delivered whole to a client that stayed: nothing is kept.
	eventually(t, "the list's stream forgotten", func() bool { return gw.registry.replayed.Load() == 0 })

	before := gw.fastStats.served.Load()
	ctx, drop := context.WithCancel(ctxTimeout(t))
	resp := sseRequest(t, ctx, http.MethodPost, gw.URL, cs.ID(),
		`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"wait","arguments":{},"_meta":{"progressToken":"p"},"x-extra":1}}`, nil)
	first := readSSE(t, bufio.NewReader(resp.Body), 2)
	if len(first) != 2 || first[0].name != "prime" || !strings.Contains(first[1].data, `"begun"`) || !strings.HasPrefix(first[1].id, replayPrefix) {
		t.Fatalf("the call's first events: %+v, want the priming event and the progress with an id", first)
	}
	<-started
	drop()
	resp.Body.Close()
	time.Sleep(100 * time.Millisecond) // as in TestResumeFastPathStream: room for a wrong cancellation
	close(release)
	eventually(t, "the tool returned", func() bool { return ended.Load() != nil })
	if got := ended.Load(); got != "<nil>" {
		t.Fatalf("the tool's context ended with %v after the client's connection dropped", got)
	}
	var resumed *http.Response
	eventually(t, "the stream can be resumed", func() bool {
		resumed = sseRequest(t, ctxTimeout(t), http.MethodGet, gw.URL, cs.ID(), "", map[string]string{"Last-Event-ID": first[1].id})
		if resumed.StatusCode == http.StatusOK {
			return true
		}
		resumed.Body.Close()
		return false
	})
	defer resumed.Body.Close()
	rest := readSSE(t, bufio.NewReader(resumed.Body), -1)
	if len(rest) != 1 || !strings.Contains(rest[0].data, `"id":8`) || !strings.Contains(rest[0].data, "waited") {
		t.Fatalf("resumed stream %+v, want the call's result", rest)
	}
	if gw.fastStats.served.Load() != before {
		t.Error("the call took the fast path; this test is about the SDK's")
	}
}

// A request of the SDK's path whose client went and did not come back for
// its stream ends after detachedWait, even when the SDK waits on the
// client (here for an elicitation, which has no timeout in the go-sdk):
// the POST no longer holds the session, which goes idle and is closed.
func TestSDKPathRequestWithoutClientEnds(t *testing.T) {
	srv := interactiveServer(make(chan string, 4), make(chan string, 4))
	up := newLoopbackServer(t, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true}))
	gw := startGatewayConfig(t, nil, func(c *config.Config) {
		c.Servers = []config.Server{upstreamConfig("up", up.URL+"/mcp")}
		c.SessionIdleTimeout = config.Duration(time.Second)
	})
	gw.registry.detachedWait.Store(int64(100 * time.Millisecond))
	cs := connect(t, gw.URL, legacy, &mcp.ClientOptions{ // it can be asked; it never is
		ElicitationHandler: func(ctx context.Context, _ *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	t.Cleanup(func() {
		// The call still waits for the elicitation, and the go-sdk closes
		// no session, on DELETE either, with a call in flight: cancel it,
		// so that the test's client and gateway can close.
		r := sseRequest(t, context.Background(), http.MethodPost, gw.URL, cs.ID(), `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8}}`, nil)
		r.Body.Close()
	})
	ctx, drop := context.WithCancel(ctxTimeout(t))
	// The 2026-07-28 upstream answers input_required; the SDK's path asks
	// this 2025 client with an elicitation request on the call's stream.
	resp := sseRequest(t, ctx, http.MethodPost, gw.URL, cs.ID(), `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"up__ask","arguments":{}}}`, nil)
	first := readSSE(t, bufio.NewReader(resp.Body), 2)
	if len(first) == 0 || !strings.Contains(first[len(first)-1].data, "elicitation/create") {
		t.Fatalf("the call's stream: %+v, want the elicitation request", first)
	}
	drop()
	resp.Body.Close()
	eventually(t, "the session closed as idle after its client went", func() bool { return gw.registry.count() == 0 })
}

// An event whose data has several lines is written a data line each, as
// the SSE standard reads them back.
func TestAppendEventLines(t *testing.T) {
	got := string(appendEvent(nil, "fp1_2", []byte("{\"a\":\n1}")))
	if want := "event: message\nid: fp1_2\ndata: {\"a\":\ndata: 1}\n\n"; got != want {
		t.Errorf("appendEvent = %q, want %q", got, want)
	}
	var data []byte
	err := readEvents(bufio.NewReader(strings.NewReader(got)), nil, 1<<20, func(d []byte) (bool, error) { data = d; return true, nil })
	if err != nil || string(data) != "{\"a\":\n1}" {
		t.Errorf("read back %q, %v", data, err)
	}
	if got := string(appendEvent(nil, "", []byte("{}"))); got != "event: message\ndata: {}\n\n" {
		t.Errorf("without an id: %q", got)
	}
}
