package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate/approval"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"
)

// State is the health of one upstream server as /readyz reports it.
type State string

// The states of an upstream.
const (
	StateConnecting State = "connecting"
	StateReady      State = "ready"
	StateDown       State = "down"
)

// errUnavailable marks errors that mean the upstream could not be reached; the
// gateway answers them with a JSON-RPC error that names the server.
var errUnavailable = errors.New("upstream unavailable")

// upstream is one approved MCP server and the pooled session the gateway keeps
// with it. A single goroutine (run) owns connecting, listing and reconnecting;
// calls read the current session and report transport failures back to it.
type upstream struct {
	cfg    config.Server
	prefix string
	namer  namer
	opts   *Options
	client *mcp.Client
	base   http.RoundTripper
	// token is the bearer token source of the pooled session: client
	// credentials, or the gateway's own identity assertions; nil for an
	// upstream of neither kind (token_exchange: the pooled session has no
	// employee to exchange a token of, and sends none).
	token tokenSource
	// employees are the per-employee sessions of an upstream whose
	// credentials name the employee (auth kinds identity_assertion,
	// token_exchange and oauth), and credentialFor the token source of an employee's
	// session, opened by the request in ctx; nil for other kinds, whose
	// calls share the pooled session.
	employees     *employeeSessions
	credentialFor func(context.Context, *authn.Identity) tokenSource
	log           *slog.Logger
	// headers are the configured headers, read again when rotated.
	headers *upstreamHeaders
	// onChange is called, without locks held, after the upstream's features or
	// state changed.
	onChange func()
	// onReady is called by the run loop with each new session before it is
	// offered to calls.
	onReady func(context.Context, *mcp.ClientSession)

	mu       sync.Mutex
	cs       *mcp.ClientSession // nil unless ready
	state    State
	lastErr  string
	since    time.Time
	features *features
	changed  chan struct{} // closed and replaced on every state change
	dropped  chan struct{} // closed when the current session is abandoned

	// fast is the HTTP client of the fast path (fastcall.go), own its
	// sessions of the 2025 revisions, one per set of client capabilities
	// declared (fastsession.go).
	fastOnce   sync.Once
	fast       *http.Client
	ownMu      sync.Mutex
	own        [allCapabilities + 1]*rawSession
	ownRetry   time.Time // no new own session asked for before
	ownClosed  bool      // the upstream's run ended: no new own session
	clientInfo *mcp.Implementation

	// maxMessage bounds one message of its answers
	// (limits.max_upstream_message_bytes).
	maxMessage int

	refresh      chan struct{} // asks run to re-list features
	changedKinds atomic.Uint32 // which kinds the upstream said changed

	// approvalMode is the server's approval mode (config.ApprovalMode),
	// lock the gateway's current lock file (approval.go).
	approvalMode string
	lock         *atomic.Pointer[approval.Lock]
}

// run connects, serves and reconnects with exponential backoff until ctx ends.
func (u *upstream) run(ctx context.Context) {
	backoff := u.opts.minBackoff()
	for ctx.Err() == nil {
		cs, err := u.connect(ctx)
		if err != nil {
			u.setDown(err)
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, u.opts.maxBackoff())
			continue
		}
		backoff = u.opts.minBackoff()
		err = u.serve(ctx, cs)
		_ = cs.Close()
		u.setReconnecting(err)
	}
	u.closeOwnSession()
}

// connect opens a session, bounded by the upstream's timeout, and lists its
// features.
func (u *upstream) connect(ctx context.Context) (*mcp.ClientSession, error) {
	t, err := u.transport(u.token)
	if err != nil {
		return nil, err
	}
	// The SSE transport keeps the connect context for its event stream, so the
	// handshake is bounded by a timer rather than a context deadline.
	sctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(u.timeout(), cancel)
	cs, err := u.client.Connect(sctx, t, nil)
	if err == nil {
		var f *features
		f, err = u.list(sctx, cs)
		if err == nil && timer.Stop() {
			u.setLogLevel(ctx, cs)
			u.onReady(ctx, cs)
			u.setReady(cs, f)
			return cs, nil
		}
		_ = cs.Close()
	}
	expired := !timer.Stop()
	cancel()
	if expired && ctx.Err() == nil {
		err = fmt.Errorf("no answer within %s", u.timeout())
	}
	return nil, fmt.Errorf("connect: %w", err)
}

// transport is the MCP transport of one upstream session: the upstream's
// headers and, with a token source, its bearer tokens.
func (u *upstream) transport(token tokenSource) (mcp.Transport, error) {
	if _, err := u.headers.fresh(); err != nil {
		return nil, err
	}
	hc := &http.Client{
		Transport: &upstreamTransport{base: u.base, headers: u.headers, token: token, propagator: u.opts.propagator(), maxMessage: u.maxMessage, sdk: true},
		// A redirect would carry the upstream's credentials to wherever
		// the upstream points: the configured URL is the only target.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// The SDK's own bound on an event (16 MiB by default for HTTP+SSE) is
	// off: the upstream transport's eventBound applies
	// limits.max_upstream_message_bytes and fails only the call, where the
	// SDK's would fail the stream, and with it the session.
	if u.cfg.Transport == config.TransportSSE {
		return &mcp.SSEClientTransport{Endpoint: u.cfg.URL, HTTPClient: hc, MaxEventSize: -1}, nil
	}
	return &mcp.StreamableClientTransport{Endpoint: u.cfg.URL, HTTPClient: hc, MaxEventSize: -1}, nil
}

// connectAs opens a session of an employee's own, authenticated by token
// (u.credentialFor), bounded by the upstream's timeout. The returned cancel
// ends the session's context once the session is over.
func (u *upstream) connectAs(ctx context.Context, token tokenSource) (*mcp.ClientSession, context.CancelFunc, error) {
	t, err := u.transport(token)
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(u.timeout(), cancel)
	cs, err := u.client.Connect(sctx, t, nil)
	if err == nil && timer.Stop() {
		return cs, cancel, nil
	}
	if err == nil {
		_ = cs.Close()
		err = fmt.Errorf("no answer within %s", u.timeout())
	}
	cancel()
	u.log.Warn("upstream session for an employee failed", "err", err)
	if errors.Is(err, errTokenFetch) {
		return nil, nil, fmt.Errorf("%w: %s", errUnavailable, noCredential(u.cfg.Name))
	}
	return nil, nil, fmt.Errorf("%w: server %q did not open a session for you; try again later", errUnavailable, u.cfg.Name)
}

// noCredential tells a caller that no upstream credential could be
// obtained for them; the log says why (the caller is not told the token
// endpoint's answer).
func noCredential(server string) string {
	return fmt.Sprintf("server %q: the gateway could not obtain a credential for you from the server's authorization server; "+
		"the gateway's log says why (ask its operators)", server)
}

// serve watches a ready session until it is lost, dropped or ctx ends, and
// re-lists features on request. It returns why the session ended.
func (u *upstream) serve(ctx context.Context, cs *mcp.ClientSession) error {
	lost := make(chan error, 1)
	go func() { lost <- cs.Wait() }()
	u.mu.Lock()
	dropped := u.dropped
	u.mu.Unlock()
	probe := time.NewTicker(u.opts.probeInterval())
	defer probe.Stop()
	for {
		select {
		case <-ctx.Done():
			return errors.New("gateway shutting down")
		case err := <-lost:
			if err == nil {
				err = errors.New("session closed by the server")
			}
			return err
		case <-dropped:
			return errors.New("session failed; reconnecting")
		case <-u.refresh:
			if err := u.relist(ctx, cs); err != nil {
				return err
			}
		case <-probe.C:
			if err := u.probe(ctx, cs); err != nil {
				return fmt.Errorf("health probe: %w", err)
			}
		}
	}
}

// setLogLevel asks an upstream of the 2025 revisions that logs for every
// level: the SDK server filters each client session by its own level.
func (u *upstream) setLogLevel(ctx context.Context, cs *mcp.ClientSession) {
	caps := cs.InitializeResult().Capabilities
	if isStateless(cs) || caps == nil || caps.Logging == nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	if err := cs.SetLoggingLevel(lctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		u.log.Debug("set upstream log level", "err", err)
	}
}

func (u *upstream) relist(ctx context.Context, cs *mcp.ClientSession) error {
	lctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	f, err := u.list(lctx, cs)
	if err != nil {
		return fmt.Errorf("re-list: %w", err)
	}
	// Entries of the kinds the upstream said changed are registered anew
	// even when they look the same, so clients hear of every change the
	// upstream announced (a re-added tool is a change to the upstream too).
	kinds := u.changedKinds.Swap(0)
	var old features
	if cur := u.currentFeatures(); cur != nil {
		old = *cur
	}
	if kinds&changedTools != 0 {
		old.tools = nil
	}
	if kinds&changedPrompts != 0 {
		old.prompts = nil
	}
	if kinds&changedResources != 0 {
		old.resources, old.templates = nil, nil
	}
	f.reuse(&old)
	u.mu.Lock()
	report := u.pinLocked(f, u.features)
	u.features = f
	u.mu.Unlock()
	u.reportPins(report)
	u.onChange()
	return nil
}

// probe checks that an idle session still works. 2026-07-28 servers have no
// ping, so they are asked for the first page of tools instead.
func (u *upstream) probe(ctx context.Context, cs *mcp.ClientSession) error {
	pctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	var err error
	if isStateless(cs) {
		_, err = cs.ListTools(pctx, nil)
	} else {
		err = cs.Ping(pctx, nil)
	}
	if isAnswer(err) {
		return nil // it answered, if only with an error
	}
	return err
}

func (u *upstream) setReady(cs *mcp.ClientSession, f *features) {
	u.mu.Lock()
	f.reuse(u.features)
	// A reconnect compares with what was found before it (the features
	// are kept while reconnecting): an item already reported is not
	// reported again.
	report := u.pinLocked(f, u.features)
	u.cs, u.state, u.lastErr, u.since, u.features = cs, StateReady, "", time.Now(), f
	u.dropped = make(chan struct{})
	u.mu.Unlock()
	u.reportPins(report)
	u.log.Info("upstream ready", "protocol", cs.InitializeResult().ProtocolVersion,
		"tools", len(f.tools), "prompts", len(f.prompts), "resources", len(f.resources))
	// The catalog holds the features before anyone waiting is told the
	// upstream is ready (WaitSettled: a client connecting right after must
	// find them).
	u.onChange()
	u.mu.Lock()
	u.broadcastLocked()
	u.mu.Unlock()
}

// setReconnecting records that a ready session ended. Its features stay in
// the catalog while the run loop reconnects, so an expired session does not
// make tools vanish and reappear; a failed reconnect (setDown) removes them.
func (u *upstream) setReconnecting(err error) {
	u.mu.Lock()
	u.cs, u.state, u.lastErr, u.since = nil, StateConnecting, err.Error(), time.Now()
	u.broadcastLocked()
	u.mu.Unlock()
	u.log.Info("upstream session ended", "err", err)
}

func (u *upstream) setDown(err error) {
	u.mu.Lock()
	hadFeatures := u.features != nil
	changed := u.state != StateDown || u.lastErr != err.Error()
	u.cs, u.state, u.lastErr, u.features = nil, StateDown, err.Error(), nil
	if changed {
		u.since = time.Now()
	}
	u.broadcastLocked()
	u.mu.Unlock()
	if changed {
		u.log.Warn("upstream unavailable", "err", err)
	}
	if hadFeatures {
		u.onChange()
	}
}

func (u *upstream) broadcastLocked() {
	close(u.changed)
	u.changed = make(chan struct{})
}

// session returns the current session, or an error naming the upstream when
// it is not ready, so calls fail fast.
func (u *upstream) session() (*mcp.ClientSession, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cs == nil {
		return nil, u.unavailableLocked()
	}
	return u.cs, nil
}

// acquire returns the session a request made for id goes over and the
// function to call when the request is done with it: id's own session on
// an upstream with per-employee sessions, the pooled session otherwise or
// when id is nil (the gateway's own requests).
func (u *upstream) acquire(ctx context.Context, id *authn.Identity) (*mcp.ClientSession, func(), error) {
	if u.employees == nil || id == nil {
		cs, err := u.session()
		return cs, func() {}, err
	}
	return u.employees.acquire(ctx, id)
}

// renewFor replaces cs, a session the upstream forgot, as acquire chose it.
// The release it returns is never nil.
func (u *upstream) renewFor(ctx context.Context, id *authn.Identity, cs *mcp.ClientSession, release func()) (*mcp.ClientSession, func(), error) {
	if u.employees == nil || id == nil {
		cs, err := u.renew(ctx, cs)
		return cs, release, err
	}
	release()
	u.employees.discard(id, cs)
	cs, release, err := u.employees.acquire(ctx, id)
	if err != nil {
		return nil, func() {}, err
	}
	return cs, release, nil
}

// abandonFor reports that cs, as acquire chose it for id, failed.
func (u *upstream) abandonFor(id *authn.Identity, cs *mcp.ClientSession) {
	if u.employees == nil || id == nil {
		u.abandon(cs)
		return
	}
	u.employees.discard(id, cs)
}

// unavailableLocked is the error a call to an unavailable upstream gets. It
// names the server and its state, not the cause (addresses, transport
// errors): that is for the log and /readyz, not for every caller.
func (u *upstream) unavailableLocked() error {
	return fmt.Errorf("%w: server %q is %s since %s; try again later", errUnavailable, u.cfg.Name, u.state,
		u.since.UTC().Format(time.RFC3339))
}

// renew abandons cs and waits, bounded by ctx, for the session that replaces
// it. It is used when the upstream forgot a session (HTTP 404), which the
// spec resolves by initialising a new one.
func (u *upstream) renew(ctx context.Context, cs *mcp.ClientSession) (*mcp.ClientSession, error) {
	u.abandon(cs)
	for {
		u.mu.Lock()
		cur, state, ch := u.cs, u.state, u.changed
		if cur != nil && cur != cs {
			u.mu.Unlock()
			return cur, nil
		}
		if cur == nil && state == StateDown {
			err := u.unavailableLocked()
			u.mu.Unlock()
			return nil, err
		}
		u.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// abandon tells the run loop that cs failed; it is a no-op for a session that
// is no longer the current one.
func (u *upstream) abandon(cs *mcp.ClientSession) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cs != cs {
		return
	}
	select {
	case <-u.dropped:
	default:
		close(u.dropped)
	}
}

// Kinds of features an upstream said changed.
const (
	changedTools uint32 = 1 << iota
	changedPrompts
	changedResources
)

// requestRefresh asks the run loop to re-list the upstream's features.
func (u *upstream) requestRefresh(kind uint32) {
	u.changedKinds.Or(kind)
	select {
	case u.refresh <- struct{}{}:
	default:
	}
}

// status is the upstream's entry in /readyz.
func (u *upstream) status() UpstreamStatus {
	employees := 0
	if u.employees != nil { // counted before u.mu: never hold both locks
		employees = u.employees.count()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s := UpstreamStatus{Name: u.cfg.Name, State: u.state, Since: u.since.UTC(), Error: u.lastErr,
		Credential: credentialKind(u.cfg), EmployeeSessions: employees}
	if u.cs != nil {
		s.ProtocolVersion = u.cs.InitializeResult().ProtocolVersion
	}
	if f := u.features; f != nil {
		s.Tools, s.Prompts, s.Resources, s.Templates = len(f.tools), len(f.prompts), len(f.resources), len(f.templates)
		s.Skipped = f.skipped
		s.Quarantined, s.Unapproved = f.unapproved()
	}
	if u.approvalMode != config.ApprovalOff {
		s.Approval = u.approvalMode
	}
	return s
}

func (u *upstream) currentFeatures() *features {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.features
}

func (u *upstream) timeout() time.Duration { return time.Duration(u.cfg.Timeout) }

// isStateless reports whether the session speaks the 2026-07-28 revision.
func isStateless(cs *mcp.ClientSession) bool {
	r := cs.InitializeResult()
	return r != nil && r.ProtocolVersion >= "2026-07-28"
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// tokenSource gives the bearer tokens of an upstream session.
type tokenSource interface {
	// Token returns a token valid for a while yet.
	Token(context.Context) (string, error)
	// Invalidate drops token, which the upstream refused.
	Invalidate(token string)
}

// upstreamTransport sends the headers configured for one upstream, and only
// those: requests to upstreams are built by the SDK client from scratch, so
// nothing of the downstream request (Authorization, cookies) can leak here.
// With a token source (auth kind client_credentials, token_exchange or
// identity_assertion) it also sends its bearer token.
type upstreamTransport struct {
	base       http.RoundTripper
	headers    *upstreamHeaders
	token      tokenSource
	propagator propagation.TextMapPropagator
	maxMessage int // limits.max_upstream_message_bytes
	// sdk: the SDK's client reads the answers (not the fast path), so an
	// event over maxMessage is replaced by an error for its call
	// (eventBound) instead of failing the stream.
	sdk bool
}

// RoundTrip sends r. When the upstream answers 401 to a token of ours, the
// token may have been revoked before its expiry: it is dropped and r sent
// once more with a new one, if its body can be sent again (the SDK's
// requests can: they are built from byte slices).
func (t *upstreamTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(r)
	if err == nil {
		err = boundMessages(t.headers.cfg.Name, t.maxMessage, r, resp)
		if b, ok := resp.Body.(*boundedBody); ok && err == nil && t.sdk {
			var id func() json.RawMessage
			if r.Method == http.MethodPost {
				id = func() json.RawMessage { return requestID(r) }
			}
			resp.Body = newEventBound(b.ReadCloser, b.limit, id, t.headers.cfg.Name, t.headers.log)
		}
	}
	return resp, err
}

func (t *upstreamTransport) roundTrip(r *http.Request) (*http.Response, error) {
	resp, token, err := t.send(r, r.Body)
	if err == nil && resp.StatusCode == http.StatusForbidden {
		noteInsufficientScope(r.Context(), resp.Header)
	}
	if err != nil || resp.StatusCode != http.StatusUnauthorized || t.token == nil {
		return resp, err
	}
	var body io.ReadCloser
	if r.Body != nil && r.Body != http.NoBody {
		if r.GetBody == nil {
			return resp, nil
		}
		if body, err = r.GetBody(); err != nil {
			return resp, nil
		}
	}
	t.token.Invalidate(token)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	resp, _, err = t.send(r, body)
	return resp, err
}

// send sends a copy of r with body, the upstream's headers, its token and
// the trace context. It returns the token it sent.
func (t *upstreamTransport) send(r *http.Request, body io.ReadCloser) (*http.Response, string, error) {
	r = r.Clone(r.Context())
	setCallParamHeaders(r)
	r.Body = body
	header, err := t.headers.current()
	if err != nil {
		if body != nil {
			_ = body.Close()
		}
		return nil, "", err
	}
	for k, v := range header {
		r.Header[k] = v
	}
	var token string
	if t.token != nil {
		if token, err = t.token.Token(r.Context()); err != nil {
			if body != nil {
				_ = body.Close()
			}
			return nil, "", err
		}
		r.Header.Set("Authorization", "Bearer "+token)
	}
	// The gateway's CLIENT span (in the call's context) also travels in the
	// HTTP headers, for upstreams that read trace context there.
	t.propagator.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		resp = tagRelated(r.Context(), resp)
	}
	return resp, token, err
}

// credentialKind names how the gateway authenticates to the upstream of
// cfg, for /readyz: servers[].auth.kind, "headers" for the older
// servers[].headers, or "none".
func credentialKind(cfg config.Server) string {
	switch {
	case cfg.Auth != nil && cfg.Auth.Kind != "":
		return cfg.Auth.Kind
	case len(cfg.Headers) > 0:
		return config.AuthHeaders
	}
	return "none"
}

// boundMessages bounds what the SDK's client reads of one message of an
// upstream's answer, as the fast path does (limit:
// limits.max_upstream_message_bytes). A JSON
// body over it is answered, in its place, with a JSON-RPC error for the
// request it answers: that call fails, saying why, and the session and
// the other calls on it go on (a failed read would fail them all). An
// event over it fails the stream's read with errAnswerTooLarge (the fast
// path's reads; the SDK's take eventBound in its place).
func boundMessages(server string, limit int, r *http.Request, resp *http.Response) error {
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	if limit <= 0 {
		limit = int(config.DefaultMaxUpstreamMessageBytes)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "text/event-stream" {
		resp.Body = &boundedBody{ReadCloser: resp.Body, limit: limit}
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if len(data) > limit {
		id := requestID(r)
		if id == nil {
			return errAnswerTooLarge
		}
		data, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{
			"code": -32603, "message": fmt.Sprintf("mcpgate: server %q answered with a message over the gateway's bound of %s (limits.max_upstream_message_bytes); the call failed",
				server, config.ByteSize(limit))}})
		resp.Header.Set("Content-Type", "application/json")
		resp.StatusCode = http.StatusOK
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Del("Content-Length")
	return nil
}

// requestID is the JSON-RPC id of the request r sends, nil when it has
// none or its body cannot be read again.
func requestID(r *http.Request) json.RawMessage {
	if r.GetBody == nil {
		return nil
	}
	body, err := r.GetBody()
	if err != nil {
		return nil
	}
	defer body.Close()
	var m struct {
		ID json.RawMessage `json:"id"`
	}
	if json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&m) != nil || len(m.ID) == 0 || string(m.ID) == "null" {
		return nil
	}
	return m.ID
}

// boundedBody fails a read past limit bytes of one event of an event
// stream: the bytes since the last blank line.
type boundedBody struct {
	io.ReadCloser
	limit int
	n     int
	lf    bool // the last byte ended a line
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	for _, c := range p[:n] {
		switch c {
		case '\n':
			if b.lf {
				b.n = 0 // a blank line: the event is over
			}
			b.lf = true
			continue
		case '\r':
			continue
		}
		b.lf = false
		if b.n++; b.n > b.limit {
			return 0, errAnswerTooLarge
		}
	}
	return n, err
}
