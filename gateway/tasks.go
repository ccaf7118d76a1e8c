package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/store"
)

// The tasks extension (SEP-2663) through the gateway.
//
// A 2026-07-28 upstream that advertises the extension may answer a
// tools/call of a client that declared it (in the request's
// clientCapabilities) with a task instead of a result: a CreateTaskResult
// with the upstream's task id, which the client then polls with tasks/get,
// answers with tasks/update and ends with tasks/cancel. The gateway:
//   - advertises the extension in a view's server/discover when a tool the
//     view shows belongs to an upstream that advertises it;
//   - takes a task only from the fast path (fastcall.go), where it reads
//     the result; it keeps the task under an id of its own (taskIDPrefix
//     and 128 random bits), bound to the caller, the server, the tool the
//     client called and its arguments, in the store when there is one
//     (every replica then serves the task) and otherwise in memory (this
//     replica only), until the task's ttlMs (at most taskMaxTTL);
//   - answers tasks/get, tasks/update and tasks/cancel at the edge: the
//     routing headers must match (Mcp-Method, Mcp-Name = taskId: -32020,
//     HTTP 400), the client must declare the extension (-32021), the id
//     must be the caller's own (otherwise it is unknown: -32602); each is
//     decided by the policy as part of the call it belongs to (phase call,
//     the method tasks/…, the task's tool and the call's arguments), then
//     sent to the upstream under the upstream's id, and a DetailedTask's
//     taskId is the gateway's again;
//   - keeps the extension from upstreams wherever it cannot map their
//     tasks: on the SDK's path and for clients of the 2025 revisions the
//     clientCapabilities sent upstream do not declare it, so such calls
//     run as calls.
// tasks/result and tasks/list are not in the extension (the SDK answers
// -32601), nor in 2025 sessions.

const (
	// tasksExtension is the extension's name in capabilities.extensions.
	tasksExtension = "io.modelcontextprotocol/tasks"
	// taskIDPrefix starts every task id the gateway gives.
	taskIDPrefix = "mcpgate-task-"
	// taskDefaultTTL is how long a task is kept when its upstream gave no
	// ttlMs; taskMaxTTL bounds what it gives.
	taskDefaultTTL = time.Hour
	taskMaxTTL     = 24 * time.Hour
	// taskMemoryLimit bounds the tasks kept in memory (no store);
	// taskCallerLimit the unexpired tasks one caller has of this replica.
	taskMemoryLimit = 10000
	taskCallerLimit = 100
	// taskStoreNamespace holds the tasks in the store.
	taskStoreNamespace = "gateway-tasks"
)

// taskMethods are the extension's methods the gateway answers.
var taskMethods = map[string]bool{"tasks/get": true, "tasks/update": true, "tasks/cancel": true}

// taskRecord is what the gateway keeps of one task.
type taskRecord struct {
	Caller    string          `json:"caller"`   // employeeKey of the caller who created it
	Server    string          `json:"server"`   // the upstream's configured name
	URL       string          `json:"url"`      // and its URL, which a reload may change
	Tool      string          `json:"tool"`     // the tool's name as the client called it
	Upstream  string          `json:"upstream"` // the upstream's task id
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// taskTable keeps the tasks: in st when there is one, else in memory.
type taskTable struct {
	st store.Store

	mu  sync.Mutex
	mem map[string]memTask
	// live counts the unexpired tasks this replica made per caller, in
	// memory and in the store alike (taskCallerLimit).
	live map[string][]time.Time
}

type memTask struct {
	rec     taskRecord
	expires time.Time
}

func (tt *taskTable) put(ctx context.Context, id string, rec taskRecord, expires time.Time) error {
	if err := tt.count(rec.Caller, expires); err != nil {
		return err
	}
	if tt.st != nil {
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return tt.st.Put(ctx, taskStoreNamespace, id, b, expires)
	}
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.mem == nil {
		tt.mem = map[string]memTask{}
	}
	if len(tt.mem) >= taskMemoryLimit {
		now := time.Now()
		for k, t := range tt.mem {
			if now.After(t.expires) {
				delete(tt.mem, k)
			}
		}
	}
	if len(tt.mem) >= taskMemoryLimit {
		return fmt.Errorf("%d tasks are kept already", taskMemoryLimit)
	}
	tt.mem[id] = memTask{rec: rec, expires: expires}
	return nil
}

// count notes one more task of caller until expires, unless the caller
// has taskCallerLimit unexpired tasks of this replica.
func (tt *taskTable) count(caller string, expires time.Time) error {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.live == nil {
		tt.live = map[string][]time.Time{}
	}
	now := time.Now()
	live := slices.DeleteFunc(tt.live[caller], func(t time.Time) bool { return now.After(t) })
	if len(live) >= taskCallerLimit {
		tt.live[caller] = live
		return fmt.Errorf("the caller has %d tasks already", taskCallerLimit)
	}
	tt.live[caller] = append(live, expires)
	for c, l := range tt.live { // callers whose tasks all expired
		if !slices.ContainsFunc(l, func(t time.Time) bool { return !now.After(t) }) {
			delete(tt.live, c)
		}
	}
	return nil
}

func (tt *taskTable) get(ctx context.Context, id string) (taskRecord, bool, error) {
	if tt.st != nil {
		b, ok, err := tt.st.Get(ctx, taskStoreNamespace, id)
		if err != nil || !ok {
			return taskRecord{}, false, err
		}
		var rec taskRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return taskRecord{}, false, fmt.Errorf("task %s in the store: %w", id, err)
		}
		return rec, true, nil
	}
	tt.mu.Lock()
	defer tt.mu.Unlock()
	t, ok := tt.mem[id]
	if !ok || time.Now().After(t.expires) {
		return taskRecord{}, false, nil
	}
	return t.rec, true, nil
}

// supportsTasks reports whether u's pooled session is of 2026-07-28 and
// the upstream advertised the extension.
func (u *upstream) supportsTasks() bool {
	cs, err := u.session()
	if err != nil || !isStateless(cs) {
		return false
	}
	caps := cs.InitializeResult().Capabilities
	if caps == nil {
		return false
	}
	_, ok := caps.Extensions[tasksExtension]
	return ok
}

// mapsTasks reports whether the upstream request of method may declare
// the tasks extension: a task it creates reaches a client that can poll
// it through the gateway (a 2026-07-28 client's tools/call on the fast
// path, or the extension's own methods).
func mapsTasks(ctx context.Context, method string) bool {
	if taskMethods[method] {
		return true
	}
	fc, _ := ctx.Value(fastCallKey{}).(*fastCall)
	return method == "tools/call" && fc != nil && !fc.legacy()
}

// declaresTasks reports whether a request's clientCapabilities declare
// the extension.
func declaresTasks(caps any) bool {
	c, _ := caps.(map[string]any)
	ext, _ := c["extensions"].(map[string]any)
	_, ok := ext[tasksExtension]
	return ok
}

// withoutTasks returns caps without the extension (a copy when it had it).
func withoutTasks(caps any) any {
	if !declaresTasks(caps) {
		return caps
	}
	c := maps.Clone(caps.(map[string]any))
	ext := maps.Clone(c["extensions"].(map[string]any))
	delete(ext, tasksExtension)
	c["extensions"] = ext
	return c
}

// advertiseTasks is a receiving middleware of a view: its server/discover
// answer advertises the extension when the view shows a tool of an
// upstream that does.
func (v *view) advertiseTasks(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		d, ok := res.(*mcp.DiscoverResult)
		if method != "server/discover" || err != nil || !ok || d.Capabilities == nil || !v.showsTasks() {
			return res, err
		}
		out := *d
		caps := *d.Capabilities
		caps.Extensions = maps.Clone(caps.Extensions)
		if caps.Extensions == nil {
			caps.Extensions = map[string]any{}
		}
		caps.Extensions[tasksExtension] = map[string]any{}
		out.Capabilities = &caps
		return &out, nil
	}
}

// showsTasks reports whether v shows a tool of an upstream that supports
// the extension.
func (v *view) showsTasks() bool {
	if v.g.opts.SDKForwarding {
		return false // no fast path: no task can be taken
	}
	v.mu.Lock()
	ups := map[*upstream]bool{}
	for _, e := range v.tools {
		if len(e.params) == 0 { // a tool the fast path takes (fastCall.resolve)
			ups[e.up] = true
		}
	}
	v.mu.Unlock()
	for u := range ups {
		if fastUpstream(u) && u.supportsTasks() {
			return true
		}
	}
	return false
}

// takeTask keeps the task an upstream created for the fast-path call of
// fc (result, a CreateTaskResult, read by its exact keys) and returns the
// result with the gateway's task id and the ttlMs the gateway keeps it
// for. A task it cannot give the client is cancelled upstream.
func (g *Gateway) takeTask(ctx context.Context, fc *fastCall, u *upstream, fields map[string]json.RawMessage) (json.RawMessage, error) {
	p, _ := ctx.Value(fastParamsKey{}).(*fastParams)
	var taskID string
	_ = json.Unmarshal(fields["taskId"], &taskID)
	refuse := func(why string) error {
		if taskID != "" && headerSafe(taskID) {
			go g.cancelUpstreamTask(context.WithoutCancel(ctx), u, taskID)
		}
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mcpgate: the upstream answered the call with a task " + why +
			"; the gateway cancelled it (the tool may have begun: check before calling again)"}
	}
	caller := callerOf(ctx)
	switch {
	case fc.legacy() || fc.method != "tools/call" || p == nil || !declaresTasks(fc.clientCaps):
		return nil, refuse("the client did not ask for")
	case taskID == "" || !headerSafe(taskID) || caseVariant(fields, "resultType", "taskId"):
		return nil, refuse("the gateway cannot read")
	case caller == "":
		return nil, refuse("for a caller without a verified identity")
	}
	ttl := taskDefaultTTL
	var ms *float64
	if json.Unmarshal(fields["ttlMs"], &ms) == nil {
		switch {
		case ms == nil || *ms >= float64(taskMaxTTL/time.Millisecond): // null: unlimited
			ttl = taskMaxTTL
		case *ms >= 1:
			ttl = time.Duration(*ms) * time.Millisecond
		}
	}
	id := newTaskID()
	rec := taskRecord{Caller: caller, Server: u.cfg.Name, URL: u.cfg.URL, Tool: p.Name, Upstream: taskID, Arguments: p.Arguments}
	if err := g.tasks.put(ctx, id, rec, time.Now().Add(ttl+time.Minute)); err != nil {
		return nil, refuse("the gateway cannot keep (" + err.Error() + ")")
	}
	fields["ttlMs"] = json.RawMessage(strconv.FormatInt(ttl.Milliseconds(), 10))
	return setTaskID(fields, id)
}

// cancelUpstreamTask tells u to cancel its task id, best effort.
func (g *Gateway) cancelUpstreamTask(ctx context.Context, u *upstream, id string) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	cs, err := u.session()
	if err != nil {
		return
	}
	meta := mcp.Meta{mcp.MetaKeyClientCapabilities: map[string]any{"extensions": map[string]any{tasksExtension: map[string]any{}}}}
	if _, err := g.taskRequest(ctx, u, cs, "tasks/cancel", id, nil, meta); err != nil {
		u.log.Info("cancel an upstream task the gateway could not give its client", "task", id, "err", err)
	}
}

// resultFields reads a result by its exact keys, or reports false for one
// that is not an object.
func resultFields(result json.RawMessage) (map[string]json.RawMessage, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(result, &fields) != nil || fields == nil {
		return nil, false
	}
	return fields, true
}

// isTaskResult reports whether result is a CreateTaskResult by its exact
// key resultType, as a client reads it; fields are its keys then.
func isTaskResult(result json.RawMessage) (map[string]json.RawMessage, bool) {
	if !bytes.Contains(result, []byte(`"task"`)) {
		return nil, false // cheap: most results are not
	}
	fields, ok := resultFields(result)
	return fields, ok && string(bytes.TrimSpace(fields["resultType"])) == `"task"`
}

// caseVariant reports whether fields has a key that differs from one of
// names only in case: encoding/json would read either.
func caseVariant(fields map[string]json.RawMessage, names ...string) bool {
	for k := range fields {
		for _, n := range names {
			if k != n && strings.EqualFold(k, n) {
				return true
			}
		}
	}
	return false
}

// setTaskID encodes fields with taskId set to id.
func setTaskID(fields map[string]json.RawMessage, id string) (json.RawMessage, error) {
	if fields == nil {
		return nil, errors.New("the upstream's result is not an object")
	}
	b, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	fields["taskId"] = b
	return json.Marshal(fields)
}

func newTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return taskIDPrefix + hex.EncodeToString(b[:])
}

// taskParams are the params of tasks/get, tasks/update and tasks/cancel.
type taskParams struct {
	Meta           mcp.Meta        `json:"_meta,omitempty"`
	TaskID         string          `json:"taskId"`
	InputResponses json.RawMessage `json:"inputResponses,omitempty"`
}

// serveTask answers a tasks/* request of a 2026-07-28 client (next
// answers requests of other versions, as for any method).
func (g *Gateway) serveTask(w http.ResponseWriter, r *http.Request, env *envelope, next http.Handler) {
	var p taskParams
	if json.Unmarshal(env.Params, &p) != nil || !validID(env.ID) {
		next.ServeHTTP(w, r) // the SDK refuses what it cannot read
		return
	}
	if v, _ := p.Meta[mcp.MetaKeyProtocolVersion].(string); v != statelessVersion || v != r.Header.Get("Mcp-Protocol-Version") {
		next.ServeHTTP(w, r)
		return
	}
	fc := &fastCall{w: w, id: env.ID, method: env.Method}
	switch {
	case r.Header.Get("Mcp-Method") != env.Method || strings.TrimSpace(r.Header.Get("Mcp-Name")) != p.TaskID:
		fc.finish(&jsonrpc.Error{Code: mcp.CodeHeaderMismatch, Message: fmt.Sprintf(
			"mcpgate: the Mcp-Method and Mcp-Name headers must be %q and the taskId %q", env.Method, p.TaskID)})
		return
	case !declaresTasks(p.Meta[mcp.MetaKeyClientCapabilities]):
		fc.finish(&jsonrpc.Error{Code: codeMissingClientCapability, Message: fmt.Sprintf(
			"mcpgate: %s needs the %s extension in the request's clientCapabilities", env.Method, tasksExtension),
			Data: json.RawMessage(`{"requiredCapabilities":{"extensions":{"` + tasksExtension + `":{}}}}`)})
		return
	case p.TaskID == "":
		fc.finish(&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "mcpgate: taskId is required"})
		return
	case env.Method == "tasks/update" && !isJSONObject(p.InputResponses):
		fc.finish(&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "mcpgate: tasks/update needs inputResponses, an object"})
		return
	}
	ctx := r.Context()
	rec, ok, err := g.tasks.get(ctx, p.TaskID)
	if err != nil {
		g.log.Warn("tasks: the store failed", "method", env.Method, "err", err)
		fc.finish(&jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mcpgate: the gateway's task store is unavailable; try again later"})
		return
	}
	if !ok || rec.Caller == "" || rec.Caller != callerOf(ctx) {
		fc.finish(&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("mcpgate: unknown task %q", p.TaskID)})
		return
	}
	v := g.viewOf(r)
	req := &mcp.CallToolRequest{Extra: &mcp.RequestExtra{TokenInfo: auth.TokenInfoFromContext(ctx), Header: r.Header},
		Params: &mcp.CallToolParamsRaw{Meta: p.Meta, Name: rec.Tool, Arguments: rec.Arguments}}
	handle := func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if err := v.admit(ctx, method, req); err != nil {
			return nil, err
		}
		ctx, err := v.decide(ctx, method, req)
		if err != nil {
			return nil, err
		}
		e := v.tool(rec.Tool)
		if e == nil || e.up.cfg.Name != rec.Server || e.up.cfg.URL != rec.URL {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("mcpgate: unknown task %q: its tool is gone", p.TaskID)}
		}
		if err := g.checkDecided(ctx, e.up, e.upstreamName); err != nil {
			return nil, err
		}
		return nil, g.forward(ctx, nil, e.up, identityOf(req), method, e.upstreamName, p.Meta, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) error {
			fc.result, err = g.taskRequest(ctx, e.up, cs, method, rec.Upstream, p.InputResponses, meta)
			return err
		})
	}
	ctx = context.WithValue(ctx, fastCallKey{}, fc) // a denial's step-up (authz.go)
	_, err = g.observe(handle)(ctx, env.Method, req)
	if fc.denied != nil && g.scopeChallenge(w, r, *fc.denied) {
		return
	}
	if err == nil && env.Method == "tasks/get" {
		fields, ok := resultFields(fc.result)
		if !ok || caseVariant(fields, "taskId") {
			err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mcpgate: the upstream's tasks/get answer cannot be read"}
		} else {
			fc.result, err = setTaskID(fields, p.TaskID)
		}
	}
	fc.finish(err)
}

func isJSONObject(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// taskRequest sends method for the upstream's task id over a stateless
// request and returns the upstream's result.
func (g *Gateway) taskRequest(ctx context.Context, u *upstream, cs *mcp.ClientSession, method, taskID string, responses json.RawMessage, meta mcp.Meta) (json.RawMessage, error) {
	if !isStateless(cs) || !u.supportsTasks() {
		return nil, fmt.Errorf("%w: server %q no longer supports tasks", errUnavailable, u.cfg.Name)
	}
	if meta == nil {
		meta = mcp.Meta{}
	}
	meta[mcp.MetaKeyProtocolVersion] = statelessVersion
	meta[mcp.MetaKeyClientInfo] = g.clientInfo
	params := map[string]any{"_meta": meta, "taskId": taskID}
	if len(responses) > 0 {
		params["inputResponses"] = responses
	}
	result, _, err := u.rawRequest(ctx, method, params, func(h http.Header) {
		setSessionHeaders(h, statelessVersion, "")
		h.Set("Mcp-Method", method)
		h.Set("Mcp-Name", taskID)
	})
	return result, err
}
