package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The fast path over sessions of the 2025 revisions.
//
// A call of a 2025 client goes to the upstream in the client's era: over
// the pooled session when the upstream speaks only the 2025 revisions, and
// otherwise over a session of its own that the fast path opens with the
// upstream (2025-11-25; one per upstream, opened on first use, opened
// again when the upstream forgets it). A call of a 2026-07-28 client to an
// upstream that speaks only the 2025 revisions goes over such a session
// too, one per set of capabilities declared, which declares the client's. A 2026-07-28 upstream costs more per
// stateless request than per request of a session, and a 2025 client in a
// 2025 session needs no bridging of input-required results.
//
// Over a session the upstream may ask the client during the call
// (elicitation, sampling, roots): the request goes to the calling client on
// the call's own event stream under an id of the gateway's, the client's
// answer (a POST of its session) is taken at the edge and posted to the
// upstream's session under the upstream's id. A client that did not declare
// the capability is not asked (the upstream gets -32021); a 2026-07-28
// client cannot be asked during a call: one that did not declare the
// capability ends the call with -32021, and for one that did the upstream
// is told it cannot be asked (issue #15 bridges these). When
// the call ends early (the client cancelled, the timeout), the upstream
// gets notifications/cancelled.

// fastTarget is where one fast-path call is sent.
type fastTarget struct {
	version string
	session string      // the upstream's session id; "" for a stateless request
	own     *rawSession // the fast path's own session, when it is the one
}

// rawSession is a session the fast path opened with an upstream.
type rawSession struct {
	id, version string
}

// legacyVersion is the revision of the fast path's own sessions.
const legacyVersion = "2025-11-25"

// fastTarget picks where a call over cs goes. A 2026-07-28 client in
// front of an upstream of the 2025 revisions only goes over a session of
// the fast path's own that declared the capabilities the client declared
// (and no others), so that the upstream asks it for nothing it cannot
// give, and refuses as it would refuse the client itself.
func (fc *fastCall) target(ctx context.Context, u *upstream, cs *mcp.ClientSession) fastTarget {
	version := cs.InitializeResult().ProtocolVersion
	stateless := isStateless(cs)
	caps := allCapabilities // a 2025 client's session is asked, as the SDK client's is
	switch {
	case !stateless && fc.legacy():
		return fastTarget{version: version, session: cs.ID()} // the client's era already
	case stateless && !fc.legacy():
		return fastTarget{version: version}
	case !fc.legacy():
		caps = fc.capabilities()
	}
	s, err := u.ownSession(ctx, caps)
	if err == nil {
		return fastTarget{version: s.version, session: s.id, own: s}
	}
	if stateless {
		u.log.Debug("no session of the 2025 revisions for the fast path; calling statelessly", "err", err)
		return fastTarget{version: version}
	}
	u.log.Debug("no session with the client's capabilities for the fast path; calling over the pooled session", "err", err)
	return fastTarget{version: version, session: cs.ID()}
}

// capabilitySet is a set of the client capabilities an upstream may ask
// for during a call, one bit each.
type capabilitySet uint8

const (
	capRoots capabilitySet = 1 << iota
	capSampling
	capElicitation
	allCapabilities = capRoots | capSampling | capElicitation
)

// capabilityBits names the bit of each capability.
var capabilityBits = map[string]capabilitySet{"roots": capRoots, "sampling": capSampling, "elicitation": capElicitation}

// capabilities is the set a 2026-07-28 request declared.
func (fc *fastCall) capabilities() capabilitySet {
	var set capabilitySet
	for name, bit := range capabilityBits {
		if _, ok := fc.clientCaps[name]; ok {
			set |= bit
		}
	}
	return set
}

// ownSession returns the fast path's session with u that declares caps,
// opening it if needed. An upstream that would not open one is not asked
// again for ownRetry.
func (u *upstream) ownSession(ctx context.Context, caps capabilitySet) (*rawSession, error) {
	u.ownMu.Lock()
	defer u.ownMu.Unlock()
	if s := u.own[caps]; s != nil {
		return s, nil
	}
	if u.ownClosed {
		return nil, errors.New("the gateway is shutting down")
	}
	if time.Now().Before(u.ownRetry) {
		return nil, errors.New("the upstream did not open one a short while ago")
	}
	// Not the caller's to cancel: its session serves every such client.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.timeout())
	defer cancel()
	s, err := u.openOwn(ctx, caps)
	if err != nil {
		u.ownRetry = time.Now().Add(ownRetryAfter)
		return nil, err
	}
	u.own[caps] = s
	return s, nil
}

// ownRetryAfter is how long calls go statelessly after the upstream did
// not open a session for the fast path.
const ownRetryAfter = time.Minute

// maxAsks bounds the requests of one call relayed to its client at once.
const maxAsks = 16

// dropOwnSession forgets s, which the upstream forgot.
func (u *upstream) dropOwnSession(s *rawSession) {
	u.ownMu.Lock()
	defer u.ownMu.Unlock()
	for i, own := range u.own {
		if own == s {
			u.own[i] = nil
		}
	}
}

// closeOwnSession ends the fast path's sessions with u.
func (u *upstream) closeOwnSession() {
	u.ownMu.Lock()
	sessions := u.own
	u.own, u.ownClosed = [allCapabilities + 1]*rawSession{}, true
	u.ownMu.Unlock()
	for _, s := range sessions {
		if s != nil {
			u.deleteOwn(s)
		}
	}
}

// deleteOwn ends one of the fast path's sessions with u.
func (u *upstream) deleteOwn(s *rawSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.cfg.URL, nil)
	if err != nil {
		return
	}
	req.Header.Set(sessionIDHeader, s.id)
	req.Header.Set("Mcp-Protocol-Version", s.version)
	if resp, err := u.fastClient().Do(req); err == nil {
		release(resp.Body)
	}
}

// openOwn initialises a session of the 2025 revisions with u, as the
// gateway's SDK client would: the same client information, the
// capabilities in caps (all of them, as the SDK client's, for 2025
// clients, whose own sessions are asked), and every log level asked for
// (each call is given its client's).
func (u *upstream) openOwn(ctx context.Context, caps capabilitySet) (*rawSession, error) {
	declared := map[string]any{}
	for name, bit := range capabilityBits {
		if caps&bit != 0 {
			declared[name] = map[string]any{}
		}
	}
	params := map[string]any{"protocolVersion": legacyVersion, "capabilities": declared, "clientInfo": u.clientInfo}
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
		Capabilities    struct {
			Logging json.RawMessage `json:"logging"`
		} `json:"capabilities"`
	}
	s := &rawSession{version: legacyVersion}
	result, h, err := u.rawRequest(ctx, "initialize", params, sessionHeaders(s.version, ""))
	if err == nil {
		err = json.Unmarshal(result, &res)
	}
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	sid := h.Get(sessionIDHeader)
	if sid == "" || !strings.HasPrefix(res.ProtocolVersion, "2025-") {
		return nil, fmt.Errorf("initialize: the upstream answered version %q, session id %q", res.ProtocolVersion, sid)
	}
	s.id, s.version = sid, res.ProtocolVersion
	if _, _, err := u.rawRequest(ctx, "notifications/initialized", nil, sessionHeaders(s.version, s.id)); err != nil {
		return nil, fmt.Errorf("notifications/initialized: %w", err)
	}
	if len(res.Capabilities.Logging) > 0 {
		if _, _, err := u.rawRequest(ctx, "logging/setLevel", map[string]any{"level": "debug"}, sessionHeaders(s.version, s.id)); err != nil {
			u.log.Debug("set the fast path's session log level", "err", err)
		}
	}
	return s, nil
}

// rawRequest sends one message to u outside the SDK (a request, or a
// notification when method starts with "notifications/"), its headers set
// by header, and returns a request's result and the answer's headers. The
// answer is read as JSON (a 2026-07-28 server answers some errors with 400
// or 404) or as an event stream, up to the response with the request's id;
// an upstream's JSON-RPC error is returned as it is, an answer the gateway
// cannot use as errBadAnswer (the request fails, not the upstream's
// session), a failed round trip as its own error.
func (u *upstream) rawRequest(ctx context.Context, method string, params any, header func(http.Header)) (_ json.RawMessage, _ http.Header, err error) {
	msg := map[string]any{"jsonrpc": "2.0", "method": method}
	if params != nil {
		msg["params"] = params
	}
	id := ""
	notification := strings.HasPrefix(method, "notifications/")
	if !notification {
		id = nextUpstreamID()
		msg["id"] = id
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	header(req.Header)
	resp, err := u.fastClient().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer release(resp.Body)
	defer func() {
		var rpcErr *jsonrpc.Error
		if err != nil && !errors.As(err, &rpcErr) && ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", errBadAnswer, err)
		}
	}()
	if notification {
		if resp.StatusCode/100 != 2 {
			return nil, nil, fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil, resp.Header, nil
	}
	want, _ := json.Marshal(id)
	var out json.RawMessage
	handle := func(data []byte) (bool, error) {
		var m upstreamMessage
		if json.Unmarshal(data, &m) != nil || !bytes.Equal(m.ID, want) || m.Method != "" {
			return false, nil // a notification, or not the answer
		}
		if m.Error != nil {
			return true, m.Error
		}
		if len(m.Result) == 0 {
			return true, errors.New("upstream response has neither result nor error")
		}
		out = m.Result
		return true, nil
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "text/event-stream" && resp.StatusCode == http.StatusOK:
		err = readEvents(bufio.NewReader(resp.Body), nil, u.maxMessage, handle)
	case mt == "application/json" && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotFound):
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, int64(u.maxMessage)+1))
		if rerr == nil && len(data) > u.maxMessage {
			return nil, nil, fmt.Errorf("%w: %w", errBadAnswer, errAnswerTooLarge)
		}
		if rerr != nil {
			return nil, nil, fmt.Errorf("upstream answer unreadable: %w", rerr)
		}
		var done bool
		if done, err = handle(data); err == nil && !done {
			err = errors.New("upstream answered without a response to the request")
		}
	default:
		return nil, nil, fmt.Errorf("upstream answered HTTP %d %s", resp.StatusCode, mt)
	}
	return out, resp.Header, err
}

// sessionHeaders sets the headers of a request of the 2025 session id.
func sessionHeaders(version, id string) func(http.Header) {
	return func(h http.Header) { setSessionHeaders(h, version, id) }
}

func setSessionHeaders(h http.Header, version, session string) {
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	h.Set("Mcp-Protocol-Version", version)
	if session != "" {
		h.Set(sessionIDHeader, session)
	}
}

// ask relays a request the upstream made during the call to the calling
// client and returns the client's answer: a result, or the error the
// upstream gets.
func (fc *fastCall) ask(ctx context.Context, g *Gateway, m *upstreamMessage) (json.RawMessage, *jsonrpc.Error) {
	what := askedCapability[m.Method]
	switch {
	case m.Method == "ping":
		return json.RawMessage(`{}`), nil
	case what == "":
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "mcpgate: " + m.Method + " is not relayed to clients"}
	case !fc.legacy():
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(
			"mcpgate: the client speaks MCP 2026-07-28, which cannot answer a server's %s request during a call; the upstream must use an input-required result", what)}
	}
	var caps *mcp.ClientCapabilities
	if p := fc.ss.InitializeParams(); p != nil {
		caps = p.Capabilities
	}
	if caps == nil || what == "elicitation" && caps.Elicitation == nil ||
		what == "sampling" && caps.Sampling == nil || what == "roots" && caps.RootsV2 == nil {
		return nil, &jsonrpc.Error{Code: codeMissingClientCapability,
			Message: fmt.Sprintf("mcpgate: the client did not declare the %s capability", what), Data: missingCapabilityData(what)}
	}
	params := m.Params
	if m.Method == "roots/list" {
		params = nil // as the SDK's path asks: nothing of the upstream's _meta
	}
	id := json.RawMessage(`"mcpgate-` + rand.Text() + `"`) // rand.Text is base32: nothing to escape
	answer, done := g.registry.expect(fc.ss.ID(), string(id))
	defer done()
	msg, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params,omitempty"`
	}{"2.0", id, m.Method, params})
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mcpgate: cannot relay the request"}
	}
	fc.event(msg)
	select {
	case body := <-answer:
		var reply struct {
			Result json.RawMessage `json:"result"`
			Error  *jsonrpc.Error  `json:"error"`
		}
		if err := json.Unmarshal(body, &reply); err != nil || (reply.Result == nil && reply.Error == nil) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mcpgate: the client's answer is not a JSON-RPC response"}
		}
		if reply.Error != nil {
			return nil, reply.Error
		}
		return reply.Result, nil
	case <-ctx.Done():
		// The client stops working on it too.
		if msg, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/cancelled",
			"params": map[string]any{"requestId": id, "reason": "the server cancelled the request"}}); err == nil {
			fc.event(msg)
		}
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mcpgate: the request was cancelled before the client answered"}
	}
}

// answerUpstream posts the answer to the upstream's request id over t.
func (fc *fastCall) answerUpstream(ctx context.Context, u *upstream, t fastTarget, id json.RawMessage, result json.RawMessage, rpcErr *jsonrpc.Error) error {
	msg := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result,omitempty"`
		Error   *jsonrpc.Error  `json:"error,omitempty"`
	}{"2.0", id, result, rpcErr}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return u.postToSession(ctx, t, body)
}

// cancelUpstream tells the upstream, off the call's path, that the call
// with id over t is cancelled.
func (u *upstream) cancelUpstream(t fastTarget, id, reason string) {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/cancelled",
		"params": map[string]any{"requestId": id, "reason": reason}})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := u.postToSession(ctx, t, body); err != nil {
		u.log.Debug("tell the upstream a call was cancelled", "err", err)
	}
}

// postToSession posts a response or notification to the session of t.
func (u *upstream) postToSession(ctx context.Context, t fastTarget, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	setSessionHeaders(req.Header, t.version, t.session)
	resp, err := u.fastClient().Do(req)
	if err != nil {
		return err
	}
	defer release(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upstream answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// relayRequest relays the upstream's request m to the client and answers
// the upstream, on a goroutine of its own: the call's stream is read on,
// so that the upstream can cancel the request (notifications/cancelled)
// or report progress meanwhile.
func (fc *fastCall) relayRequest(ctx context.Context, g *Gateway, u *upstream, t fastTarget, m *upstreamMessage) {
	actx, cancel := context.WithCancel(ctx)
	key := string(m.ID)
	fc.mu.Lock()
	if fc.asks == nil {
		fc.asks = map[string]context.CancelFunc{}
	}
	var refusal string
	switch _, dup := fc.asks[key]; {
	case dup:
		refusal = "mcpgate: a request with this id is already waiting for the client"
	case fc.running >= maxAsks:
		refusal = fmt.Sprintf("mcpgate: more than %d requests of one call are waiting for the client", maxAsks)
	}
	if refusal != "" {
		fc.mu.Unlock()
		cancel()
		_ = fc.answerUpstream(ctx, u, t, m.ID, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: refusal})
		return
	}
	fc.asks[key] = cancel
	fc.running++
	fc.mu.Unlock()
	fc.asking.Add(1)
	go func() {
		defer fc.asking.Done()
		defer cancel()
		result, rpcErr := fc.ask(actx, g, m)
		fc.mu.Lock()
		delete(fc.asks, key)
		fc.running--
		fc.mu.Unlock()
		if actx.Err() != nil {
			return // cancelled by the upstream, or the call is over: no answer is due
		}
		if err := fc.answerUpstream(ctx, u, t, m.ID, result, rpcErr); err != nil {
			u.log.Debug("answer the upstream's request", "method", m.Method, "err", err)
		}
	}()
}

// cancelAsk cancels the relay of the upstream's request id, which the
// upstream cancelled.
func (fc *fastCall) cancelAsk(id string) {
	fc.mu.Lock()
	cancel := fc.asks[id]
	fc.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// endAsks cancels every relay still running and waits for them.
func (fc *fastCall) endAsks() {
	fc.mu.Lock()
	for _, cancel := range fc.asks {
		cancel()
	}
	fc.mu.Unlock()
	fc.asking.Wait()
}
