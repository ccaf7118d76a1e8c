package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/store"
)

// tasksUpstream is a 2026-07-28 upstream with the tasks extension: a
// go-sdk server (which lists the tools and serves every call as a call)
// behind a handler that implements the extension's methods and answers a
// tools/call of "slow" or "confirm" with a task when the request declares
// the extension. It records the extension's requests it gets.
type tasksUpstream struct {
	URL string

	mu    sync.Mutex
	n     int
	tasks map[string]map[string]any
	seen  []map[string]any // method, name (Mcp-Name), params
}

func startTasksUpstream(t *testing.T) *tasksUpstream {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "tasks"}, &mcp.ServerOptions{Capabilities: &mcp.ServerCapabilities{
		Tools: &mcp.ToolCapabilities{}, Extensions: map[string]any{tasksExtension: map[string]any{}}}})
	for _, name := range []string{"slow", "confirm"} {
		s.AddTool(&mcp.Tool{Name: name, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sync " + name}}}, nil
		})
	}
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	up := &tasksUpstream{tasks: map[string]map[string]any{}}
	hs := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params map[string]any  `json:"params"`
		}
		if json.Unmarshal(body, &msg) != nil || msg.Method == "" {
			sdk.ServeHTTP(w, r)
			return
		}
		meta, _ := msg.Params["_meta"].(map[string]any)
		result, rpcErr := up.handle(msg.Method, r.Header.Get("Mcp-Name"), msg.Params, declaresTasks(meta[mcp.MetaKeyClientCapabilities]))
		if result == nil && rpcErr == nil {
			sdk.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		answer := map[string]any{"jsonrpc": "2.0", "id": msg.ID}
		if rpcErr != nil {
			w.WriteHeader(http.StatusBadRequest)
			answer["error"] = rpcErr
		} else {
			answer["result"] = result
		}
		json.NewEncoder(w).Encode(answer)
	}))
	up.URL = hs.URL + "/mcp"
	return up
}

// handle answers the extension's part of a request, or returns nil, nil
// for the go-sdk server to serve it.
func (up *tasksUpstream) handle(method, name string, params map[string]any, declared bool) (any, any) {
	up.mu.Lock()
	defer up.mu.Unlock()
	const now = "2026-12-07T10:00:00Z"
	if method == "tools/call" && declared && (params["name"] == "slow" || params["name"] == "confirm") {
		up.n++
		id := fmt.Sprintf("up-%d", up.n)
		task := map[string]any{"taskId": id, "status": "working", "createdAt": now, "lastUpdatedAt": now, "ttlMs": 60000, "pollIntervalMs": 100}
		if params["name"] == "confirm" {
			task["status"] = "input_required"
			task["inputRequests"] = map[string]any{"ok": map[string]any{"method": "elicitation/create",
				"params": map[string]any{"message": "sure?", "requestedSchema": map[string]any{"type": "object"}}}}
		}
		up.tasks[id] = task
		out := map[string]any{"resultType": "task"}
		for k, v := range task {
			if k != "inputRequests" {
				out[k] = v
			}
		}
		return out, nil
	}
	if !taskMethods[method] {
		return nil, nil
	}
	up.seen = append(up.seen, map[string]any{"method": method, "name": name, "params": params})
	task, ok := up.tasks[fmt.Sprint(params["taskId"])]
	if !ok {
		return nil, map[string]any{"code": -32602, "message": "unknown task"}
	}
	switch method {
	case "tasks/update":
		answer, _ := json.Marshal(params["inputResponses"])
		task["status"], task["result"] = "completed", map[string]any{"content": []any{map[string]any{"type": "text", "text": "confirmed " + string(answer)}}}
		delete(task, "inputRequests")
		return map[string]any{"resultType": "complete"}, nil
	case "tasks/cancel":
		task["status"] = "cancelled"
		return map[string]any{"resultType": "complete"}, nil
	}
	out := map[string]any{"resultType": "complete"}
	for k, v := range task {
		out[k] = v
	}
	return out, nil
}

func (up *tasksUpstream) complete(id, text string) {
	up.mu.Lock()
	defer up.mu.Unlock()
	up.tasks[id]["status"] = "completed"
	up.tasks[id]["result"] = map[string]any{"content": []any{map[string]any{"type": "text", "text": text}}}
}

func (up *tasksUpstream) requests() []map[string]any {
	up.mu.Lock()
	defer up.mu.Unlock()
	return append([]map[string]any(nil), up.seen...)
}

// methodDenier records every decision and denies one method.
type methodDenier struct {
	recordingAuthorizer
	deny string
}

func (d *methodDenier) Decide(ctx context.Context, in *policy.Input) policy.Decision {
	dec := d.recordingAuthorizer.Decide(ctx, in)
	if in.Method == d.deny {
		return policy.Decision{Allow: false, Reasons: []string{d.deny + " is not allowed"}}
	}
	return dec
}

// rpcAnswer is a JSON-RPC answer as a test reads it.
type rpcAnswer struct {
	Result map[string]any `json:"result"`
	Error  *struct {
		Code    int            `json:"code"`
		Message string         `json:"message"`
		Data    map[string]any `json:"data"`
	} `json:"error"`
}

// TestTasksThroughGateway: a 2026-07-28 client that declares the tasks
// extension gets an upstream's task under the gateway's id, polls it,
// answers it and cancels it, each decided by the policy as part of its
// call; another caller, an unknown id, a request without the extension
// and one whose headers disagree are refused.
func TestTasksThroughGateway(t *testing.T) {
	t.Parallel()
	up := startTasksUpstream(t)
	authz := &methodDenier{deny: "tasks/cancel"}
	opts := testOptions()
	opts.Authorizer = authz
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{signedInByHeader}
	gw := startGateway(t, opts, upstreamConfig("up", up.URL))
	plain := startGateway(t, opts, upstreamConfig("up", startUpstream(t, interactiveServer(nil, nil)).URL))

	caps := `{"extensions":{"` + tasksExtension + `":{}}}`
	send := func(url, user, method, name, params, capabilities string, header map[string]string) (int, rpcAnswer) {
		t.Helper()
		meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":` + capabilities +
			`,"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}`
		if params != "" {
			meta += "," + params
		}
		h := map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": method, "Mcp-Name": name, "X-Test-User": user}
		for k, v := range header {
			h[k] = v
		}
		status, hdr, body := postMCPHeader(t, url, `{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{`+meta+`}}`, h)
		if strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
			body = string(firstSSEData([]byte(body)))
		}
		var a rpcAnswer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("%s: HTTP %d %q: %v", method, status, body, err)
		}
		return status, a
	}
	task := func(user, method, id, extra string) (int, rpcAnswer) {
		t.Helper()
		return send(gw.URL, user, method, id, `"taskId":"`+id+`"`+extra, caps, nil)
	}

	// The extension is advertised where a shown tool's upstream has it.
	for _, c := range []struct {
		url  string
		want bool
	}{{gw.URL, true}, {plain.URL, false}} {
		_, d := send(c.url, "alice", "server/discover", "", "", `{}`, nil)
		ext, _ := d.Result["capabilities"].(map[string]any)["extensions"].(map[string]any)
		if _, got := ext[tasksExtension]; got != c.want {
			t.Errorf("server/discover of %s advertises the tasks extension: %v, want %v (%v)", c.url, got, c.want, d.Result)
		}
	}

	// Without the extension declared, a call is a call.
	if _, a := send(gw.URL, "alice", "tools/call", "up__slow", `"name":"up__slow","arguments":{}`, `{}`, nil); a.Result["resultType"] != "complete" {
		t.Errorf("a call without the extension: %+v, want a complete result", a)
	}

	// Nor on the SDK's path (a param the fast path does not know), which
	// could not map a task: the upstream is not told of the extension.
	if _, a := send(gw.URL, "alice", "tools/call", "up__slow", `"name":"up__slow","arguments":{},"x-extra":1`, caps, nil); a.Result["resultType"] != "complete" ||
		!strings.Contains(fmt.Sprint(a.Result["content"]), "sync slow") {
		t.Errorf("a call on the SDK's path: %+v, want it run as a call", a)
	}

	_, created := send(gw.URL, "alice", "tools/call", "up__slow", `"name":"up__slow","arguments":{"n":1}`, caps, nil)
	id, _ := created.Result["taskId"].(string)
	if created.Result["resultType"] != "task" || !strings.HasPrefix(id, taskIDPrefix) || created.Result["status"] != "working" {
		t.Fatalf("a call that makes a task: %+v, want a task under the gateway's id", created)
	}
	if _, got := task("alice", "tasks/get", id, ""); got.Result["taskId"] != id || got.Result["status"] != "working" {
		t.Errorf("tasks/get: %+v, want the working task under the gateway's id", got)
	}
	up.complete("up-1", "done slowly")
	_, got := task("alice", "tasks/get", id, "")
	content, _ := got.Result["result"].(map[string]any)["content"].([]any)
	if got.Result["status"] != "completed" || len(content) != 1 || !strings.Contains(fmt.Sprint(content[0]), "done slowly") {
		t.Errorf("tasks/get of the completed task: %+v, want its result inline", got)
	}

	_, confirm := send(gw.URL, "alice", "tools/call", "up__confirm", `"name":"up__confirm","arguments":{}`, caps, nil)
	cid, _ := confirm.Result["taskId"].(string)
	if _, got := task("alice", "tasks/get", cid, ""); got.Result["status"] != "input_required" || got.Result["inputRequests"] == nil {
		t.Errorf("tasks/get of a task that needs input: %+v", got)
	}
	if _, ack := task("alice", "tasks/update", cid, `,"inputResponses":{"ok":{"action":"accept","content":{}}}`); ack.Error != nil || ack.Result["resultType"] != "complete" {
		t.Errorf("tasks/update: %+v, want the upstream's ack", ack)
	}
	if _, got := task("alice", "tasks/get", cid, ""); got.Result["status"] != "completed" || !strings.Contains(fmt.Sprint(got.Result["result"]), `accept`) {
		t.Errorf("tasks/get after the answer: %+v, want the result made with it", got)
	}

	// Every request the upstream got names its own task, in params and
	// in Mcp-Name.
	seen := up.requests()
	for _, r := range seen {
		p := r["params"].(map[string]any)
		if !strings.HasPrefix(fmt.Sprint(p["taskId"]), "up-") || r["name"] != p["taskId"] {
			t.Errorf("the upstream got %v", r)
		}
	}
	if n := len(seen); n != 5 {
		t.Errorf("the upstream got %d of the extension's requests, want 5: %v", n, seen)
	}

	// Decided as part of the call: phase call, the task's tool and the
	// call's arguments; a denial keeps the request from the upstream.
	if status, a := task("alice", "tasks/cancel", id, ""); status != http.StatusOK || a.Error == nil || a.Error.Code != CodeDenied {
		t.Errorf("tasks/cancel the policy denies: HTTP %d %+v, want -32001", status, a)
	}
	var decided bool
	for _, in := range authz.recorded() {
		if in["method"] == "tasks/cancel" {
			decided = true
			tool, _ := in["tool"].(map[string]any)
			if in["phase"] != "call" || tool["name"] != "up__slow" || fmt.Sprint(in["arguments"]) != "map[n:1]" {
				t.Errorf("tasks/cancel was decided with %v, want phase call, tool up__slow and the call's arguments", in)
			}
		}
	}
	if !decided || len(up.requests()) != len(seen) {
		t.Errorf("tasks/cancel decided: %v; the upstream got %d requests after the denial, want none", decided, len(up.requests())-len(seen))
	}

	// Refused without reaching the upstream.
	for _, c := range []struct {
		what, user, method, id, capabilities string
		header                               map[string]string
		code                                 int
	}{
		{"another caller's task", "bob", "tasks/get", id, caps, nil, -32602},
		{"an unknown task", "alice", "tasks/get", taskIDPrefix + "00", caps, nil, -32602},
		{"the upstream's own id", "alice", "tasks/get", "up-1", caps, nil, -32602},
		{"no extension declared", "alice", "tasks/get", id, `{}`, nil, -32021},
		{"Mcp-Name not the taskId", "alice", "tasks/get", id, caps, map[string]string{"Mcp-Name": "other"}, -32020},
		{"tasks/update without responses", "alice", "tasks/update", id, caps, nil, -32602},
	} {
		status, a := send(gw.URL, c.user, c.method, c.id, `"taskId":"`+c.id+`"`, c.capabilities, c.header)
		if status != http.StatusBadRequest || a.Error == nil || a.Error.Code != c.code {
			t.Errorf("%s: HTTP %d %+v, want 400 and %d", c.what, status, a, c.code)
		}
		if c.code == -32021 && a.Error != nil && fmt.Sprint(a.Error.Data) != "map[requiredCapabilities:map[extensions:map["+tasksExtension+":map[]]]]" {
			t.Errorf("%s: data %v, want the extension required", c.what, a.Error.Data)
		}
	}
	if n := len(up.requests()); n != len(seen) {
		t.Errorf("refused requests reached the upstream: %d", n-len(seen))
	}
	// The methods the extension dropped are not answered.
	for _, method := range []string{"tasks/result", "tasks/list"} {
		if _, a := send(gw.URL, "alice", method, id, `"taskId":"`+id+`"`, caps, nil); a.Error == nil || a.Error.Code != -32601 {
			t.Errorf("%s: %+v, want -32601", method, a)
		}
	}
}

// With a store, a task one replica gave is served by another: the
// replicas share the store, not memory.
func TestTasksAcrossReplicas(t *testing.T) {
	t.Parallel()
	up := startTasksUpstream(t)
	st, err := store.OpenFile(filepath.Join(t.TempDir(), "store.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	replica := func(shared store.Store) *testGateway {
		opts := testOptions()
		opts.Store = shared
		return startGateway(t, opts, upstreamConfig("up", up.URL))
	}
	a, b, alone := replica(st), replica(st), replica(nil)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"extensions":{"` +
		tasksExtension + `":{}}},"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}`
	post := func(url, method, name, params string) rpcAnswer {
		t.Helper()
		_, _, body := postMCPHeader(t, url, `{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{`+meta+`,`+params+`}}`,
			map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": method, "Mcp-Name": name})
		var ans rpcAnswer
		if err := json.Unmarshal([]byte(body), &ans); err != nil {
			t.Fatalf("%s: %q: %v", method, body, err)
		}
		return ans
	}
	id, _ := post(a.URL, "tools/call", "up__slow", `"name":"up__slow","arguments":{}`).Result["taskId"].(string)
	if !strings.HasPrefix(id, taskIDPrefix) {
		t.Fatalf("no task made at replica a")
	}
	if got := post(b.URL, "tasks/get", id, `"taskId":"`+id+`"`); got.Result["taskId"] != id || got.Result["status"] != "working" {
		t.Errorf("replica b polling replica a's task: %+v", got)
	}
	if got := post(alone.URL, "tasks/get", id, `"taskId":"`+id+`"`); got.Error == nil || got.Error.Code != -32602 {
		t.Errorf("a replica without the store: %+v, want the task unknown", got)
	}
}

// tamper sits between the gateway and an upstream: it counts the methods
// it forwards and lets a test rewrite an answer.
type tamper struct {
	target string
	mu     sync.Mutex
	counts map[string]int
	hook   func(method string, req, resp []byte) (status int, contentType string, body []byte, ok bool)
}

func startTamper(t *testing.T, target string) (*tamper, string) {
	t.Helper()
	tp := &tamper{target: target, counts: map[string]int{}}
	hs := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &msg)
		tp.mu.Lock()
		tp.counts[msg.Method]++
		hook := tp.hook
		tp.mu.Unlock()
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, tp.target, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status, ct := resp.StatusCode, resp.Header.Get("Content-Type")
		if hook != nil {
			if s, c, o, ok := hook(msg.Method, body, out); ok {
				status, ct, out = s, c, o
			}
		}
		for k, v := range resp.Header {
			if k != "Content-Length" && k != "Content-Type" {
				w.Header()[k] = v
			}
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		w.Write(out)
	}))
	return tp, hs.URL + "/mcp"
}

func (tp *tamper) count(method string) int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.counts[method]
}

func (tp *tamper) set(hook func(method string, req, resp []byte) (int, string, []byte, bool)) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.hook = hook
}

// answerWith is a tamper hook that answers method with result (raw JSON).
func answerWith(method, result string) func(string, []byte, []byte) (int, string, []byte, bool) {
	return func(m string, req, _ []byte) (int, string, []byte, bool) {
		if m != method {
			return 0, "", nil, false
		}
		var msg struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(req, &msg)
		return http.StatusOK, "application/json", []byte(`{"jsonrpc":"2.0","id":` + string(msg.ID) + `,"result":` + result + `}`), true
	}
}

// TestTasksHostileUpstream: what an upstream answers about tasks cannot
// make the gateway hand a client an unmapped task or one it did not ask
// for, forget a task early, crash, or drop the upstream's shared session;
// a task the gateway cannot keep (the caller's limit) is cancelled
// upstream and the client told so.
func TestTasksHostileUpstream(t *testing.T) {
	t.Parallel()
	up := startTasksUpstream(t)
	tp, url := startTamper(t, up.URL)
	gw := startGateway(t, nil, upstreamConfig("up", url))
	caps := `{"extensions":{"` + tasksExtension + `":{}}}`
	post := func(method, name, params, capabilities string) (int, rpcAnswer) {
		t.Helper()
		meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":` + capabilities +
			`,"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}},`
		status, _, body := postMCPHeader(t, gw.URL, `{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{`+meta+params+`}}`,
			map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": method, "Mcp-Name": name})
		var a rpcAnswer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("%s: HTTP %d %q: %v", method, status, body, err)
		}
		return status, a
	}
	call := func(capabilities string) rpcAnswer {
		t.Helper()
		_, a := post("tools/call", "up__slow", `"name":"up__slow","arguments":{}`, capabilities)
		return a
	}
	cancelled := func(what string, before int) {
		t.Helper()
		eventually(t, what+": the upstream's task cancelled", func() bool { return tp.count("tasks/cancel") > before })
	}

	// A huge ttlMs (about 317 years) is kept as the gateway's bound, and
	// the client is told that bound.
	tp.set(func(m string, _, resp []byte) (int, string, []byte, bool) {
		if m != "tools/call" {
			return 0, "", nil, false
		}
		return http.StatusOK, "application/json", bytes.Replace(resp, []byte(`"ttlMs":60000`), []byte(`"ttlMs":10000000000000`), 1), true
	})
	long := call(caps)
	tp.set(nil)
	id, _ := long.Result["taskId"].(string)
	if want := float64(taskMaxTTL.Milliseconds()); long.Result["ttlMs"] != want {
		t.Errorf("ttlMs told the client: %v, want the gateway's bound %v", long.Result["ttlMs"], want)
	}
	if _, got := post("tasks/get", id, `"taskId":"`+id+`"`, caps); got.Result["status"] != "working" {
		t.Errorf("tasks/get of a task with a huge ttlMs: %+v, want it kept", got)
	}

	// A result whose resultType a case-insensitive reader would take for
	// another is refused, and its task cancelled upstream.
	before := tp.count("tasks/cancel")
	tp.set(answerWith("tools/call", `{"resultType":"task","RESULTTYPE":"complete","taskId":"up-1","status":"working"}`))
	if a := call(caps); a.Error == nil || a.Result != nil {
		t.Errorf("an ambiguous task result: %+v, want an error", a)
	}
	cancelled("an ambiguous task result", before)

	// A task for a client that did not ask for one is refused and cancelled.
	before = tp.count("tasks/cancel")
	tp.set(answerWith("tools/call", `{"resultType":"task","taskId":"up-x","status":"working"}`))
	if a := call(`{}`); a.Error == nil || !strings.Contains(a.Error.Message, "did not ask") {
		t.Errorf("a task for a client without the extension: %+v, want refused", a)
	}
	cancelled("a task nobody asked for", before)

	// A tasks/get answer that is not an object is an error, not a crash.
	tp.set(answerWith("tasks/get", `null`))
	if _, a := post("tasks/get", id, `"taskId":"`+id+`"`, caps); a.Error == nil || a.Error.Code != -32603 {
		t.Errorf("tasks/get answered null: %+v, want -32603", a)
	}
	tp.set(nil)

	// An answer the gateway cannot use fails the request, not the shared
	// session (errBadAnswer, which forward does not take for a broken
	// session).
	tp.set(func(m string, _, _ []byte) (int, string, []byte, bool) {
		return http.StatusRequestEntityTooLarge, "text/plain", []byte("too large"), m == "tasks/update"
	})
	u := gw.ups[0]
	cs, err := u.session()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.taskRequest(ctxTimeout(t), u, cs, "tasks/update", "up-1", json.RawMessage(`{}`), nil); !errors.Is(err, errBadAnswer) {
		t.Errorf("an unusable answer to tasks/update: %v, want errBadAnswer", err)
	}
	tp.set(nil)

	// A caller at its limit gets no more tasks kept: the call is refused
	// with the reason and the upstream's task cancelled; others go on.
	for range taskCallerLimit {
		if err := gw.tasks.put(ctxTimeout(t), newTaskID(), taskRecord{Caller: employeeKey(testUser)}, time.Now().Add(time.Hour)); err != nil && !strings.Contains(err.Error(), "tasks already") {
			t.Fatal(err)
		}
	}
	before = tp.count("tasks/cancel")
	if a := call(caps); a.Error == nil || !strings.Contains(a.Error.Message, "tasks already") {
		t.Errorf("a call of a caller at the limit: %+v, want refused", a)
	}
	cancelled("a task over the caller's limit", before)
	if err := gw.tasks.put(ctxTimeout(t), newTaskID(), taskRecord{Caller: "someone else"}, time.Now().Add(time.Hour)); err != nil {
		t.Errorf("another caller's task: %v", err)
	}
}

// A tasks/* denial that wants scopes the token lacks is answered with the
// step-up challenge, as a call's is.
func TestTaskStepUp(t *testing.T) {
	t.Parallel()
	up := startTasksUpstream(t)
	opts := testOptions()
	opts.Authorizer = &scopeDenier{method: "tasks/get", scopes: []string{"admin"}}
	opts.ScopeChallenge = func(w http.ResponseWriter, scopes []string, desc string) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+strings.Join(scopes, " ")+`"`)
		w.WriteHeader(http.StatusForbidden)
	}
	gw := startGateway(t, opts, upstreamConfig("up", up.URL))
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"extensions":{"` +
		tasksExtension + `":{}}},"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}`
	send := func(method, name, params string) (int, http.Header, string) {
		return postMCPHeader(t, gw.URL, `{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{`+meta+`,`+params+`}}`,
			map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": method, "Mcp-Name": name})
	}
	_, _, body := send("tools/call", "up__slow", `"name":"up__slow","arguments":{}`)
	var created rpcAnswer
	_ = json.Unmarshal([]byte(body), &created)
	id, _ := created.Result["taskId"].(string)
	if id == "" {
		t.Fatalf("no task: %s", body)
	}
	status, hdr, _ := send("tasks/get", id, `"taskId":"`+id+`"`)
	if status != http.StatusForbidden || !strings.Contains(hdr.Get("WWW-Authenticate"), `scope="admin"`) {
		t.Errorf("tasks/get that needs scope admin: HTTP %d, WWW-Authenticate %q, want 403 with the challenge", status, hdr.Get("WWW-Authenticate"))
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream got %d requests for the denied task", n)
	}
}

// scopeDenier allows everything but method, which it denies wanting scopes.
type scopeDenier struct {
	AllowAll
	method string
	scopes []string
}

func (d *scopeDenier) Decide(ctx context.Context, in *policy.Input) policy.Decision {
	if in.Method == d.method {
		return policy.Decision{Allow: false, Reasons: []string{"needs " + strings.Join(d.scopes, " ")}, RequiredScopes: d.scopes}
	}
	return d.AllowAll.Decide(ctx, in)
}
