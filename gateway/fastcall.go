package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
)

// The fast path serves tools/call, prompts/get and resources/read without
// decoding the result into SDK types and encoding it again on either hop:
// the arguments and the upstream's result travel as the bytes they arrived
// as, and only the envelope is rewritten (the id, the tool's or prompt's
// name, _meta; a read result's cacheScope is made private). The call goes
// through the same steps as on the SDK's path — the view's receiving
// middleware (the SERVER span and metric, admission, the call-phase
// decision of record, the answer for a server that is down) and forward
// (timeouts, upstream scopes and credentials, the CLIENT span, 401 retry) —
// only the last step, the upstream request and the relay of its answer, is
// done here: one HTTP POST to the upstream, its answer streamed back.
//
// It is taken only where nothing the SDK does for a call is lost, and the
// SDK serves everything else exactly as before:
//   - the upstream's pooled session speaks 2026-07-28 (stateless: a call is
//     one POST, with no session of its own and no server-to-client
//     requests), over Streamable HTTP, with credentials that do not name
//     the employee (no per-employee sessions, no oauth connections);
//   - the tool has no x-mcp-header parameters (Mcp-Param-* headers);
//   - the request is one tools/call, prompts/get or resources/read whose
//     params the gateway reads completely (no field it does not know),
//     whose name or URI is plain ASCII, on a session this replica
//     holds (2025 revisions) or with matching standard headers
//     (2026-07-28).
//
// What the upstream sends on the call's stream is relayed as the SDK's
// path relays it: progress with the client's own token (and only when the
// client asked for progress), log messages at the level the client asked
// for, list_changed as a refresh of the upstream's features; a
// server-to-client request (which a 2026-07-28 upstream must not send) is
// dropped. A 2026-07-28 upstream that needs input answers with an
// input-required result: a 2026-07-28 client gets it as it is; for a client
// of a 2025 revision the call is handed over to the SDK's path, which
// asks the client and retries (the upstream sees the call once more, as it
// would a client's retry). A hand-over after progress was relayed cannot be
// made, and the client gets an error saying so.

// fastCallKey holds the *fastCall of a request on the fast path.
type fastCallKey struct{}

// errHandOver stops the fast path before anything was answered: the SDK's
// path serves the request instead.
var errHandOver = errors.New("mcpgate: handed over to the SDK's path")

// fastCall is one request on the fast path.
type fastCall struct {
	w      http.ResponseWriter
	id     json.RawMessage // the client's JSON-RPC id, as it sent it
	method string
	v      *view
	ss     *mcp.ServerSession // the client's session (2025 revisions); nil for 2026-07-28
	// logLevel is the level the client's session asked for.
	logLevel string
	// clientCaps are the capabilities a 2026-07-28 request declared.
	clientCaps map[string]any
	// abandoned: the call ended before the upstream answered it (the
	// client cannot give what the upstream asked for), so the upstream's
	// session is told to cancel it.
	abandoned bool

	mu        sync.Mutex      // guards the answer: relayed requests write too
	streaming bool            // the answer is an event stream, begun
	result    json.RawMessage // the upstream's result
	isError   bool            // the result's isError

	// denied is the decision of record when it denied a target the caller
	// can list (view.decide): a denial that wants scopes the token lacks
	// is answered with the step-up challenge instead of an MCP error.
	denied *policy.Decision

	// asks are the upstream's requests being relayed to the client, by
	// the upstream's id; running counts those not done, asking waits for
	// them (fastsession.go).
	asks    map[string]context.CancelFunc
	running int // relays not yet done
	asking  sync.WaitGroup

	// replays keeps the event streams of a 2025 session's calls, so that
	// a client can resume them (resume.go); replay is this call's, once
	// its answer is a stream; primes: the stream begins with a priming
	// event (2025-11-25 on).
	replays  *registry
	replay   *replayStream
	primes   bool
	detached sync.Once
}

// legacy reports whether the client speaks a 2025 revision (it has a
// session).
func (fc *fastCall) legacy() bool { return fc.ss != nil }

// fastParams are the params of a request as the fast path reads them: a
// field not listed here sends the request the SDK's way.
type fastParams struct {
	Meta           mcp.Meta        `json:"_meta,omitempty"`
	Name           string          `json:"name,omitempty"`
	URI            string          `json:"uri,omitempty"`
	Arguments      json.RawMessage `json:"arguments,omitempty"`
	InputResponses json.RawMessage `json:"inputResponses,omitempty"`
	RequestState   string          `json:"requestState,omitempty"`
}

// fastOp is what a request on the fast path is for, resolved in the
// caller's view: the upstream, and the name (a tool's or prompt's
// upstream name, a resource's URI) the upstream request carries.
type fastOp struct {
	method string
	up     *upstream
	// name is the upstream name of a tool or prompt, "" for a resource
	// (what checkDecided compares); upstream is what the upstream gets
	// in params and in Mcp-Name.
	name, upstream string
}

// resolve finds what p names in v for method, or reports false.
func (fc *fastCall) resolve(method string, p *fastParams) (fastOp, bool) {
	switch method {
	case "tools/call":
		if e := fc.v.tool(p.Name); e != nil && len(e.params) == 0 {
			return fastOp{method, e.up, e.upstreamName, e.upstreamName}, true
		}
	case "prompts/get":
		if e := fc.v.prompt(p.Name); e != nil {
			return fastOp{method, e.up, e.upstreamName, e.upstreamName}, true
		}
	case "resources/read":
		if u := fc.v.owner(p.URI); u != nil {
			return fastOp{method, u, "", p.URI}, true
		}
	}
	return fastOp{}, false
}

// fastRequestOf is the request the view's middleware sees for p.
func fastRequestOf(method string, p *fastParams, ss *mcp.ServerSession, extra *mcp.RequestExtra) (mcp.Request, bool) {
	switch method {
	case "tools/call":
		if p.Name == "" || p.URI != "" {
			return nil, false
		}
		return &mcp.CallToolRequest{Session: ss, Extra: extra,
			Params: &mcp.CallToolParamsRaw{Meta: p.Meta, Name: p.Name, Arguments: p.Arguments}}, true
	case "prompts/get":
		var args map[string]string
		if p.Name == "" || p.URI != "" || len(p.Arguments) > 0 && json.Unmarshal(p.Arguments, &args) != nil {
			return nil, false
		}
		return &mcp.GetPromptRequest{Session: ss, Extra: extra,
			Params: &mcp.GetPromptParams{Meta: p.Meta, Name: p.Name, Arguments: args}}, true
	case "resources/read":
		if p.URI == "" || p.Name != "" || len(p.Arguments) > 0 {
			return nil, false
		}
		return &mcp.ReadResourceRequest{Session: ss, Extra: extra,
			Params: &mcp.ReadResourceParams{Meta: p.Meta, URI: p.URI}}, true
	}
	return nil, false
}

// fastMethods are the methods the fast path serves.
var fastMethods = map[string]bool{"tools/call": true, "prompts/get": true, "resources/read": true}

// fastPath serves what it can of next's requests (next is the SDK's
// stateful handler when stateful, its stateless one otherwise).
func (g *Gateway) fastPath(next http.Handler, stateful bool) http.Handler {
	if g.opts.SDKForwarding {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env := envelopeOf(r.Context())
		switch {
		case env != nil && stateful:
			if g.answered(r, env) {
				w.WriteHeader(http.StatusAccepted)
				return
			}
			g.noteSessionMessage(r, env)
		case stateful && resumeRequest(r): // a GET: no envelope
			g.serveResume(w, r)
			return
		case env != nil && taskMethods[env.Method]:
			g.serveTask(w, r, env, next)
			return
		}
		served, begun := g.serveFast(w, r, stateful)
		if served {
			return
		}
		// The SDK's path has its look ahead, as without the fast path,
		// unless the fast path began the call (handed over): its
		// decision of record allowed it, and the upstream has it.
		if !begun && stepUpDeferred(r) && g.lookAheadStepUp(w, r) {
			return
		}
		if stateful {
			var done func()
			w, r, done = g.resumableSDK(w, r) // resume.go
			defer done()
		}
		next.ServeHTTP(w, r)
	})
}

// answered hands a client's response to the fast-path call that relayed
// the request it answers, and reports whether there was one.
func (g *Gateway) answered(r *http.Request, env *envelope) bool {
	if env.Method != "" || !validID(env.ID) {
		return false
	}
	return g.registry.answer(r.Header.Get(sessionIDHeader), string(env.ID), env.Body)
}

// noteSessionMessage keeps what the fast path needs to know of a 2025
// session's other messages: its logging level, and cancellations of calls
// the fast path serves. The SDK handles the messages as well.
func (g *Gateway) noteSessionMessage(r *http.Request, env *envelope) {
	switch env.Method {
	case "logging/setLevel":
		var p struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(env.Params, &p) == nil && logLevelRank(p.Level) >= 0 {
			g.registry.setLogLevel(r.Header.Get(sessionIDHeader), p.Level)
		}
	case "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(env.Params, &p) == nil && len(p.RequestID) > 0 {
			g.registry.cancel(r.Header.Get(sessionIDHeader), string(p.RequestID))
		}
	}
}

// serveFast serves r on the fast path and reports served, or reports not
// served having written nothing; begun says whether it began the call
// before it handed it over to the SDK (errHandOver).
func (g *Gateway) serveFast(w http.ResponseWriter, r *http.Request, stateful bool) (served, begun bool) {
	env := envelopeOf(r.Context())
	if env == nil || !fastMethods[env.Method] || !validID(env.ID) || !acceptsBoth(r.Header) || !canonical(env) {
		return false, false
	}
	var p fastParams
	dec := json.NewDecoder(bytes.NewReader(env.Params))
	dec.DisallowUnknownFields()
	if dec.Decode(&p) != nil || dec.More() {
		return false, false
	}
	fc := &fastCall{w: w, id: env.ID, method: env.Method}
	ctx := r.Context()
	if stateful {
		sid := r.Header.Get(sessionIDHeader)
		s, ok := g.registry.fast(sid)
		if !ok {
			return false, false
		}
		ip := s.ss.InitializeParams()
		if ip == nil || ip.ProtocolVersion >= statelessVersion {
			return false, false
		}
		if v := r.Header.Get("Mcp-Protocol-Version"); v != "" && v != ip.ProtocolVersion {
			return false, false
		}
		fc.ss, fc.v, fc.logLevel = s.ss, s.view, s.logLevel
		fc.replays, fc.primes = g.registry, ip.ProtocolVersion >= primingVersion
	} else {
		if r.Header.Get("Mcp-Method") != env.Method || r.Header.Get("Mcp-Name") != p.Name+p.URI {
			return false, false // the SDK answers the mismatch
		}
		if v, _ := p.Meta[mcp.MetaKeyProtocolVersion].(string); v != statelessVersion || v != r.Header.Get("Mcp-Protocol-Version") {
			return false, false // other versions: the SDK knows which it supports
		}
		fc.v = g.viewOf(r)
		// A 2026-07-28 request carries its log level, if it wants log
		// messages at all: an upstream of the 2025 revisions, whose
		// session has a level of its own, is filtered to it here.
		if level, _ := p.Meta[mcp.MetaKeyLogLevel].(string); logLevelRank(level) >= 0 {
			fc.logLevel = level
		}
		fc.clientCaps, _ = p.Meta[mcp.MetaKeyClientCapabilities].(map[string]any)
	}
	req, ok := fastRequestOf(env.Method, &p, fc.ss, &mcp.RequestExtra{TokenInfo: auth.TokenInfoFromContext(ctx), Header: r.Header})
	if !ok {
		return false, false
	}
	if op, ok := fc.resolve(env.Method, &p); !ok || !fastUpstream(op.up) || !headerSafe(op.upstream) {
		return false, false
	}
	if stateful {
		// The call ends with its client's connection unless its answer
		// is a stream the client can resume (resume.go).
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		defer fc.detach() // the answer is written: a GET may resume it
		defer context.AfterFunc(r.Context(), func() {
			if !fc.resumable() {
				cancel()
			}
			fc.detach()
		})()
		defer g.registry.track(fc.ss.ID(), string(env.ID), cancel)()
		if trace.SpanFromContext(ctx).IsRecording() {
			ctx = context.WithValue(ctx, requestIDKey{}, strings.Trim(string(env.ID), `"`))
		}
	}
	ctx = context.WithValue(ctx, fastCallKey{}, fc)
	ctx = context.WithValue(ctx, fastParamsKey{}, &p)
	_, err := fc.v.fastChain(ctx, env.Method, req)
	if errors.Is(err, errHandOver) {
		g.fastStats.handedOver.Add(1)
		fc.mu.Lock()
		streaming := fc.streaming
		fc.mu.Unlock()
		if !streaming {
			return false, true
		}
		err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
			Message: "mcpgate: the upstream asked for input after it reported progress; this client's protocol revision cannot be asked for it on this call"}
	}
	g.fastStats.served.Add(1) // before the answer: a client may look right after it
	if fc.denied != nil && g.scopeChallenge(w, r, *fc.denied) {
		return true, true
	}
	fc.finish(err)
	return true, true
}

// headerSafe reports whether v can be sent as an HTTP header value as it
// is (Mcp-Name); others go the SDK's way, which encodes them.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return v == strings.TrimSpace(v)
}

// fastStats count what the fast path did, for tests.
type fastStats struct {
	served     atomic.Int64 // answered on the fast path
	handedOver atomic.Int64 // begun, then handed over to the SDK's path
}

// validID reports whether id is a JSON-RPC request id the fast path
// echoes as it came: a string or an integer (any other id is the SDK's to
// refuse or normalise).
func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	switch c := id[0]; {
	case c == '"':
		return json.Valid(id)
	case c == '-', c >= '0' && c <= '9':
		return json.Valid(id) && !bytes.ContainsAny(id, ".eE")
	}
	return false
}

// canonical reports whether the message names its members exactly as
// the protocol spells them: encoding/json, which parsed the envelope, also
// matches "METHOD" or "Id", which the SDK refuses.
func canonical(env *envelope) bool {
	return bytes.Contains(env.Body, []byte(`"jsonrpc"`)) && bytes.Contains(env.Body, []byte(`"method"`)) &&
		bytes.Contains(env.Body, []byte(`"id"`)) && bytes.Contains(env.Body, []byte(`"2.0"`))
}

type fastParamsKey struct{}

// fastUpstream reports whether requests to u can take the fast path.
func fastUpstream(u *upstream) bool {
	if u.employees != nil || u.cfg.Transport == config.TransportSSE ||
		(u.cfg.Auth != nil && u.cfg.Auth.Kind == config.AuthOAuth) {
		return false
	}
	_, err := u.session()
	return err == nil
}

// acceptsBoth reports whether a POST accepts both answers the Streamable
// HTTP transport may give (the SDK refuses one that does not).
func acceptsBoth(h http.Header) bool {
	var jsonOK, streamOK bool
	for _, v := range h.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.TrimSpace(mt) {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				streamOK = true
			case "*/*":
				jsonOK, streamOK = true, true
			}
		}
	}
	return jsonOK && streamOK
}

// fastForward is the innermost handler of the fast path's chain: what the
// SDK's dispatch and the handlers of forward.go do on the SDK's path, with
// the upstream request made here.
func (g *Gateway) fastForward(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
	fc := ctx.Value(fastCallKey{}).(*fastCall)
	p := ctx.Value(fastParamsKey{}).(*fastParams)
	op, ok := fc.resolve(method, p)
	if !ok {
		return nil, errHandOver // the view changed since serveFast: the SDK answers as it is now
	}
	if err := g.checkDecided(ctx, op.up, op.name); err != nil {
		return nil, err
	}
	if !fastUpstream(op.up) {
		return nil, errHandOver // the upstream's session changed meanwhile
	}
	err := g.forward(ctx, fc.ss, op.up, identityOf(req), method, op.name, p.Meta, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) error {
		return fc.call(ctx, g, op, cs, meta, p)
	})
	if err != nil {
		return nil, err
	}
	if method == "tools/call" {
		return &mcp.CallToolResult{IsError: fc.isError}, nil
	}
	return nil, nil
}

// upstreamIDs numbers the fast path's upstream requests. Their ids are
// strings ("mcpgate-f-N"): over a pooled session they share the id space
// of the gateway's SDK client, which numbers its requests 1, 2, 3…
var upstreamIDs atomic.Int64

func nextUpstreamID() string { return fmt.Sprintf("mcpgate-f-%d", upstreamIDs.Add(1)) }

// errAnswerTooLarge is an upstream message (a JSON body or one event)
// over limits.max_upstream_message_bytes (upstream.maxMessage): the call
// fails, the client is told why.
var errAnswerTooLarge = errors.New("upstream message exceeds the gateway's bound (limits.max_upstream_message_bytes)")

// fastRequest is the tools/call the fast path sends upstream.
type fastRequest struct {
	JSONRPC string     `json:"jsonrpc"`
	ID      string     `json:"id"`
	Method  string     `json:"method"`
	Params  fastParams `json:"params"`
}

// call sends the call to the upstream, statelessly or over a session of
// the 2025 revisions (fastsession.go), and relays its answer.
func (fc *fastCall) call(ctx context.Context, g *Gateway, op fastOp, cs *mcp.ClientSession, meta mcp.Meta, p *fastParams) error {
	u := op.up
	if !fc.legacy() && strings.HasPrefix(p.RequestState, stateTag) {
		return fc.resumeCall(ctx, g, op, p) // a call this gateway bridges (bridge.go)
	}
	for attempt := 0; ; attempt++ {
		t := fc.target(ctx, u, cs)
		err := fc.send(ctx, g, op, t, maps.Clone(meta), p)
		if !errors.Is(err, errSessionGone) {
			return err
		}
		if t.own == nil {
			return mcp.ErrSessionMissing // forward renews the pooled session
		}
		u.dropOwnSession(t.own)
		if attempt > 0 {
			return fmt.Errorf("upstream forgot the fast path's session twice")
		}
	}
}

// errSessionGone: the upstream answered 404 to a request of a session.
var errSessionGone = errors.New("upstream session not found")

// send makes one attempt of the call over t.
func (fc *fastCall) send(ctx context.Context, g *Gateway, op fastOp, t fastTarget, meta mcp.Meta, p *fastParams) error {
	u := op.up
	if meta == nil {
		meta = mcp.Meta{}
	}
	if t.session == "" {
		// The per-request keys of 2026-07-28, as the SDK's client sets
		// them (upstreamMeta has set the client's capabilities and level).
		meta[mcp.MetaKeyProtocolVersion] = t.version
		meta[mcp.MetaKeyClientInfo] = g.clientInfo
		if _, ok := meta[mcp.MetaKeyClientCapabilities]; !ok {
			meta[mcp.MetaKeyClientCapabilities] = map[string]any{}
		}
		if fc.legacy() {
			// Ask for what the session asked for, not everything: the
			// SDK's session would drop the rest.
			if _, asked := meta[mcp.MetaKeyLogLevel]; asked && fc.logLevel != "" {
				meta[mcp.MetaKeyLogLevel] = fc.logLevel
			} else {
				delete(meta, mcp.MetaKeyLogLevel)
			}
		}
	} else {
		// A session of the 2025 revisions: no per-request protocol keys
		// (a 2025 upstream may refuse a call that has them).
		for k := range meta {
			if strings.HasPrefix(k, "io.modelcontextprotocol/") {
				delete(meta, k)
			}
		}
	}
	id := nextUpstreamID()
	// The arguments go as the client sent them: no HTML escaping.
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	params := fastParams{Meta: meta, Arguments: p.Arguments, InputResponses: p.InputResponses, RequestState: p.RequestState}
	if op.method == "resources/read" {
		params.URI = op.upstream
	} else {
		params.Name = op.upstream
	}
	if err := enc.Encode(fastRequest{JSONRPC: "2.0", ID: id, Method: op.method, Params: params}); err != nil {
		return fmt.Errorf("encode the upstream request: %w", err)
	}
	// A bridged call's upstream request outlives the client's request
	// that started it (bridge.go).
	hctx, stopBridge := ctx, context.CancelFunc(func() {})
	if fc.bridged(t) {
		if g.parked.full(callerOf(ctx)) {
			return errParkingFull
		}
		hctx, stopBridge = context.WithCancel(context.WithoutCancel(ctx))
	}
	hr, err := http.NewRequestWithContext(hctx, http.MethodPost, u.cfg.URL, bytes.NewReader(body.Bytes()))
	if err != nil {
		stopBridge()
		return err
	}
	setSessionHeaders(hr.Header, t.version, t.session)
	stop := func() bool { return false }
	if t.session == "" {
		hr.Header.Set("Mcp-Method", op.method)
		hr.Header.Set("Mcp-Name", op.upstream)
	} else {
		// In a session, a call ended early is cancelled with a message
		// (a bridged call's by drive, once it has the upstream's stream).
		stop = context.AfterFunc(ctx, func() {
			u.cancelUpstream(t, id, "the client's call ended")
			stopBridge()
		})
	}
	resp, err := u.fastClient().Do(hr)
	if err != nil {
		stop()
		stopBridge()
		return err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); fc.bridged(t) && resp.StatusCode == http.StatusOK && mt == "text/event-stream" {
		stop()
		return fc.drive(ctx, g, startBridge(hctx, u, t, op, id, resp, stopBridge))
	}
	defer stop()
	defer stopBridge()
	defer release(resp.Body)
	defer fc.endAsks() // before the body is released: nothing is asked after the call
	want, _ := json.Marshal(id)
	err = fc.answer(ctx, g, u, t, resp, want)
	if fc.abandoned && t.session != "" {
		go u.cancelUpstream(t, id, "the client cannot answer what the upstream asked of it")
	}
	var rpcErr *jsonrpc.Error
	if err != nil && !errors.As(err, &rpcErr) && !errors.Is(err, errSessionGone) && !errors.Is(err, errHandOver) && ctx.Err() == nil {
		err = fmt.Errorf("%w: %w", errBadAnswer, err)
	}
	return err
}

// errBadAnswer marks an answer of the upstream to one call that the fast
// path could not use (not JSON-RPC, cut short, another status or content
// type): the call fails, but the upstream's session is not taken for
// broken, as a failed round trip would be (forward re-establishes those).
var errBadAnswer = errors.New("unusable answer")

// answer relays the upstream's answer resp to the call with id want.
func (fc *fastCall) answer(ctx context.Context, g *Gateway, u *upstream, t fastTarget, resp *http.Response, want []byte) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusNotFound && t.session != "" {
			return errSessionGone
		}
		// A 2026-07-28 server answers some JSON-RPC errors with HTTP 400
		// or 404 (SEP-2575): the error is its answer.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if mt == "application/json" && (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotFound) {
			var rpcErr *jsonrpc.Error
			if _, err := fc.message(ctx, g, u, t, want, data); errors.As(err, &rpcErr) {
				return rpcErr
			}
		}
		return fmt.Errorf("upstream answered HTTP %d", resp.StatusCode)
	}
	switch mt {
	case "application/json":
		data, err := io.ReadAll(io.LimitReader(resp.Body, int64(u.maxMessage)+1))
		if err != nil {
			return err
		}
		if len(data) > u.maxMessage {
			return errAnswerTooLarge
		}
		done, err := fc.message(ctx, g, u, t, want, data)
		if err == nil && !done {
			err = errors.New("upstream answered without a response to the call")
		}
		return err
	case "text/event-stream":
		src := readerPool.Get().(*bufio.Reader)
		src.Reset(resp.Body)
		defer func() { src.Reset(nil); readerPool.Put(src) }()
		handle := func(data []byte) (bool, error) { return fc.message(ctx, g, u, t, want, data) }
		var cur sseCursor
		return u.followStream(ctx, t, &cur, readEvents(src, &cur, u.maxMessage, handle), handle)
	}
	return fmt.Errorf("upstream answered with content type %q", mt)
}

// upstreamMessage is what the fast path reads of a message on a call's stream.
type upstreamMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *jsonrpc.Error  `json:"error"`
}

// message handles one message of the upstream's answer and reports
// whether it was the response to the call (id want).
func (fc *fastCall) message(ctx context.Context, g *Gateway, u *upstream, t fastTarget, want, data []byte) (bool, error) {
	var m upstreamMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return false, fmt.Errorf("upstream sent a message that is not JSON-RPC: %w", err)
	}
	switch {
	case m.Method != "" && len(m.ID) == 0:
		fc.notification(ctx, u, &m)
		return false, nil
	case m.Method != "" && t.session == "":
		u.log.Debug("dropped a request the upstream sent during a call; 2026-07-28 servers ask with input-required results",
			"method", m.Method)
		return false, nil
	case m.Method != "" && !fc.legacy() && !fc.declared(m.Method):
		fc.abandoned = true // the upstream's call is cancelled (send)
		return true, fc.refuseUndeclared(ctx, u, t, &m)
	case m.Method != "":
		fc.relayRequest(ctx, g, u, t, &m)
		return false, nil
	case !bytes.Equal(m.ID, want):
		return false, nil
	case m.Error != nil:
		return true, m.Error
	case len(m.Result) == 0:
		return true, errors.New("upstream response has neither result nor error")
	}
	var head struct {
		IsError    bool   `json:"isError"`
		ResultType string `json:"resultType"`
	}
	if err := json.Unmarshal(m.Result, &head); err != nil {
		return true, fmt.Errorf("upstream result is not an object: %w", err)
	}
	if head.ResultType == "input_required" && fc.legacy() {
		return true, errHandOver
	}
	if fields, ok := isTaskResult(m.Result); ok {
		// A task for this call (tasks.go): the client polls it under the
		// gateway's id.
		var err error
		if m.Result, err = g.takeTask(ctx, fc, u, fields); err != nil {
			return true, err
		}
	}
	if fc.method == "resources/read" {
		var err error
		if m.Result, err = privateCache(m.Result); err != nil {
			return true, err
		}
	}
	if !fc.legacy() && t.session != "" {
		// An upstream of the 2025 revisions: a 2026-07-28 result says
		// what kind it is. The go-sdk sends its input-required results to
		// a 2025 session as they are, without one (after asking the first
		// round with server requests): the client answers them as it
		// would a 2026-07-28 upstream's, and the upstream reads the
		// answer from the call's params.
		var err error
		if m.Result, err = stampResultType(m.Result); err != nil {
			return true, err
		}
	}
	fc.result, fc.isError = m.Result, head.IsError
	return true, nil
}

// refuseUndeclared answers the upstream's request m, for a capability the
// 2026-07-28 client did not declare, with MissingRequiredClientCapability,
// and returns the same error for the call (HTTP 400): such a client
// cannot be asked. The caller cancels the upstream's call.
func (fc *fastCall) refuseUndeclared(ctx context.Context, u *upstream, t fastTarget, m *upstreamMessage) error {
	what := askedCapability[m.Method]
	rpcErr := &jsonrpc.Error{Code: codeMissingClientCapability, Message: fmt.Sprintf(
		"mcpgate: the upstream asked the client for %s during the call, and the client did not declare the %s capability",
		m.Method, what), Data: missingCapabilityData(what)}
	if err := fc.answerUpstream(ctx, u, t, m.ID, nil, rpcErr); err != nil {
		u.log.Debug("answer the upstream's request", "method", m.Method, "err", err)
	}
	return rpcErr
}

// askedCapability is the client capability each request an upstream may
// make of the client needs.
var askedCapability = map[string]string{"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}

// missingCapabilityData is the data of a MissingRequiredClientCapability
// error for the capability what.
func missingCapabilityData(what string) json.RawMessage {
	return json.RawMessage(`{"requiredCapabilities":{"` + what + `":{}}}`)
}

// declared reports whether a 2026-07-28 request declared the capability
// that the upstream's request method needs; a method that needs none (a
// ping, or one the relay refuses anyway) is declared.
func (fc *fastCall) declared(method string) bool {
	what, ok := askedCapability[method]
	if !ok {
		return true
	}
	_, ok = fc.clientCaps[what]
	return ok
}

// stampResultType is result, a JSON object, with "resultType" set when it
// has none (absent, null or empty): "input_required" when it carries
// inputRequests, else "complete". Keys are matched exactly, as clients
// read them.
func stampResultType(result json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(result, &fields); err != nil || fields == nil {
		return nil, errors.New("upstream result is not an object")
	}
	if rt := bytes.TrimSpace(fields["resultType"]); len(rt) > 0 && !bytes.Equal(rt, []byte("null")) && !bytes.Equal(rt, []byte(`""`)) {
		return result, nil
	}
	kind := json.RawMessage(`"complete"`)
	if ir := bytes.TrimSpace(fields["inputRequests"]); len(ir) > 1 && ir[0] == '{' && !bytes.Equal(ir, []byte("{}")) {
		kind = json.RawMessage(`"input_required"`)
	}
	fields["resultType"] = kind
	return encodeFields(fields)
}

// encodeFields encodes a result's fields again, without HTML escaping.
func encodeFields(fields map[string]json.RawMessage) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// privateCache marks a read result as cacheable only by the caller's own
// client (cacheScope "private", the upstream's ttlMs kept), as the SDK's
// path does (ServerOptions.SetCacheable): what a caller reads depends on
// who the caller is. The contents stay as they are.
func privateCache(result json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(result, &fields); err != nil {
		return nil, fmt.Errorf("upstream result is not an object: %w", err)
	}
	fields["cacheScope"] = json.RawMessage(`"private"`)
	if _, ok := fields["ttlMs"]; !ok {
		fields["ttlMs"] = json.RawMessage(`0`)
	}
	return encodeFields(fields)
}

// notification relays what the upstream notified on the call's stream.
func (fc *fastCall) notification(ctx context.Context, u *upstream, m *upstreamMessage) {
	switch m.Method {
	case "notifications/progress":
		pc, _ := ctx.Value(pendingCallKey{}).(*pendingCall)
		var p map[string]json.RawMessage
		if pc == nil || pc.token == nil || json.Unmarshal(m.Params, &p) != nil {
			return
		}
		var token string
		if json.Unmarshal(p["progressToken"], &token) != nil || token != pc.id {
			return // not this call's token
		}
		p["progressToken"], _ = json.Marshal(pc.token)
		delete(p, "_meta")
		fc.notify(m.Method, p)
	case "notifications/message":
		// Only at the level the client asked for, in either revision: a
		// 2026-07-28 request without a level gets no log messages.
		var p struct {
			Level string `json:"level"`
		}
		if fc.logLevel == "" || json.Unmarshal(m.Params, &p) != nil || logLevelRank(p.Level) < logLevelRank(fc.logLevel) {
			return
		}
		fc.notify(m.Method, m.Params)
	case "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(m.Params, &p) == nil {
			fc.cancelAsk(string(p.RequestID))
		}
	case "notifications/tools/list_changed":
		u.requestRefresh(changedTools)
	case "notifications/prompts/list_changed":
		u.requestRefresh(changedPrompts)
	case "notifications/resources/list_changed":
		u.requestRefresh(changedResources)
	}
}

// logLevels are the MCP log levels, lowest first.
var logLevels = []string{"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}

// logLevelRank is level's rank among logLevels, or -1.
func logLevelRank(level string) int {
	for i, l := range logLevels {
		if l == level {
			return i
		}
	}
	return -1
}

// notify sends the client a notification on the call's event stream,
// beginning the stream.
func (fc *fastCall) notify(method string, params any) {
	msg, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
	}{"2.0", method, params})
	if err != nil {
		return
	}
	fc.event(msg)
}

func (fc *fastCall) event(msg []byte) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var b []byte
	if !fc.streaming {
		fc.streaming = true
		h := fc.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache, no-transform")
		fc.w.WriteHeader(http.StatusOK)
		if fc.replays != nil {
			fc.replay = fc.replays.openStream(fc.ss.ID()) // resume.go
		}
		if fc.replay != nil && fc.primes {
			b = append(b, "event: prime\nid: "...)
			b = append(b, fc.replay.add(nil)...)
			b = append(b, "\nretry: "+strconv.Itoa(replayRetry)+"\ndata: \n\n"...)
		}
	}
	id := ""
	if fc.replay != nil {
		id = fc.replay.add(msg)
	}
	b = appendEvent(b, id, msg)
	_, _ = fc.w.Write(b)
	_ = http.NewResponseController(fc.w).Flush()
}

// detach releases the call's stream from the POST that began it, once:
// the client may then resume it with a GET (resume.go).
func (fc *fastCall) detach() {
	fc.mu.Lock()
	rs := fc.replay
	fc.mu.Unlock()
	if rs != nil {
		fc.detached.Do(rs.release)
	}
}

// resumable reports whether the call's answer is a stream its client can
// resume (resume.go): such a call outlives its client's connection.
func (fc *fastCall) resumable() bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.replay != nil
}

// finish answers the call: its result, or err as a JSON-RPC error.
func (fc *fastCall) finish(err error) {
	var b bytes.Buffer
	b.WriteString(`{"jsonrpc":"2.0","id":`)
	b.Write(fc.id)
	if err == nil {
		b.WriteString(`,"result":`)
		b.Write(fc.result)
	} else {
		var rpcErr *jsonrpc.Error
		if !errors.As(err, &rpcErr) {
			rpcErr = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
		}
		e, _ := json.Marshal(rpcErr)
		b.WriteString(`,"error":`)
		b.Write(e)
	}
	b.WriteByte('}')
	fc.mu.Lock()
	streaming := fc.streaming
	fc.mu.Unlock()
	if streaming {
		fc.event(b.Bytes())
		if fc.replay != nil {
			fc.replay.end()
		}
		return
	}
	fc.w.Header().Set("Content-Type", "application/json")
	fc.w.WriteHeader(fc.status(err))
	_, _ = fc.w.Write(b.Bytes())
}

// status is the HTTP status of an answer with err: for a 2026-07-28
// client, some JSON-RPC errors have their own (SEP-2575), as the SDK's
// handler sends them.
func (fc *fastCall) status(err error) int {
	var rpcErr *jsonrpc.Error
	if fc.legacy() || !errors.As(err, &rpcErr) {
		return http.StatusOK
	}
	switch rpcErr.Code {
	case jsonrpc.CodeMethodNotFound:
		return http.StatusNotFound
	case jsonrpc.CodeInvalidParams, codeMissingClientCapability, codeUnsupportedProtocolVersion, mcp.CodeHeaderMismatch:
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// codeUnsupportedProtocolVersion is the 2026-07-28 UnsupportedProtocolVersion error.
const codeUnsupportedProtocolVersion = -32022

// sseCursor is where a reader of an event stream got to: the last event
// id the stream gave and the reconnection delay it asked for, what a
// reader needs to resume the stream (Last-Event-ID, SEP-1699).
type sseCursor struct {
	id    string // the id of the last event dispatched
	retry time.Duration
	// pending is the id field read, which becomes the last event id
	// when its event is dispatched (at the blank line that ends it, as
	// the SSE standard says): an event cut off mid-way is read again.
	pending string
}

// errStreamEnded: an upstream's event stream ended before the response to
// the call.
var errStreamEnded = errors.New("upstream stream ended before the response to the call")

// readEvents reads a server-sent event stream, calling handle with the
// data of each event until handle reports it is done. A stream that ends
// before is errStreamEnded. cur, if not nil, follows the stream's event
// ids and retry field.
func readEvents(src *bufio.Reader, cur *sseCursor, limit int, handle func([]byte) (bool, error)) error {
	var data bytes.Buffer
	var line []byte
	for {
		line = line[:0]
		for {
			chunk, err := src.ReadSlice('\n')
			line = append(line, chunk...)
			if len(line)+data.Len() > limit {
				return errAnswerTooLarge
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				return errStreamEnded
			}
			if err != nil {
				return err
			}
			break
		}
		line = sseLine(line)
		if len(line) == 0 {
			if cur != nil {
				cur.id = cur.pending
			}
			if data.Len() == 0 {
				continue
			}
			if done, err := handle(data.Bytes()); done || err != nil {
				return err
			}
			data.Reset()
			continue
		}
		if d, ok := sseData(line); ok {
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(d)
			continue
		}
		if cur != nil {
			cur.note(line)
		}
		// event: and comments need nothing here.
	}
}

// note takes an event stream's id and retry fields (an id with NUL is
// ignored, as the SSE standard says; so is a retry that is not a number).
func (cur *sseCursor) note(line []byte) {
	if v, ok := sseField(line, "id"); ok && !bytes.ContainsRune(v, 0) {
		cur.pending = string(v)
	} else if v, ok := sseField(line, "retry"); ok {
		if ms, err := strconv.ParseUint(string(v), 10, 31); err == nil {
			cur.retry = time.Duration(ms) * time.Millisecond
		}
	}
}

// Reconnections of an upstream's event stream (followStream).
const (
	maxStreamResumes  = 3                      // in a row, without a new event
	defaultResumeWait = 250 * time.Millisecond // when the stream asked for no delay
	maxResumeWait     = 30 * time.Second
)

// followStream resumes an upstream's event stream that ended before the
// response to the call (err is errStreamEnded): a server may close a
// call's stream and let the client poll for the rest (SEP-1699). In a
// session, with a last event id, it reconnects with a GET carrying
// Last-Event-ID after the delay the stream asked for, and reads on with
// handle; three reconnections in a row that bring no new event give up.
// The call is not sent again: the tool would run twice.
func (u *upstream) followStream(ctx context.Context, t fastTarget, cur *sseCursor, err error, handle func([]byte) (bool, error)) error {
	for tries := 0; errors.Is(err, errStreamEnded) && t.session != "" && cur.id != ""; {
		if tries == maxStreamResumes {
			return fmt.Errorf("%w: %d reconnections with Last-Event-ID %q brought nothing new", err, tries, cur.id)
		}
		wait := cur.retry
		if wait <= 0 {
			wait = defaultResumeWait
		}
		timer := time.NewTimer(min(wait, maxResumeWait))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, u.cfg.URL, nil)
		if rerr != nil {
			return rerr
		}
		setSessionHeaders(req.Header, t.version, t.session)
		req.Header.Del("Content-Type")
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Last-Event-ID", cur.id)
		resp, rerr := u.fastClient().Do(req)
		if rerr != nil {
			return fmt.Errorf("resume the upstream's stream of the call: %w", rerr)
		}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
			release(resp.Body)
			return fmt.Errorf("the upstream closed the call's stream and answered its resumption (Last-Event-ID %q) with HTTP %d %s",
				cur.id, resp.StatusCode, mt)
		}
		before := cur.id
		err = readEvents(bufio.NewReader(resp.Body), cur, u.maxMessage, handle)
		release(resp.Body)
		if cur.id != before {
			tries = 0
		} else {
			tries++
		}
	}
	return err
}

// fastClient is the HTTP client of the fast path's requests to u: the
// transport of u's pooled session (its headers, its token source, the
// trace context), without the SDK's session on top.
func (u *upstream) fastClient() *http.Client {
	u.fastOnce.Do(func() {
		u.fast = &http.Client{
			Transport:     &upstreamTransport{base: u.base, headers: u.headers, token: u.token, propagator: u.opts.propagator(), maxMessage: u.maxMessage},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return u.fast
}

// release closes an upstream answer's body once the call is done with it.
// Only a body read to its end lets its connection serve the next call; an
// event stream ends just after the response, so the rest is read (up to
// drainLimit, waiting at most drainTime for an upstream that keeps the
// stream open) before closing.
func release(body io.ReadCloser) {
	timer := time.AfterFunc(drainTime, func() { body.Close() })
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	timer.Stop()
	body.Close()
}

const (
	drainLimit = 64 << 10
	drainTime  = 20 * time.Millisecond
)
