package policy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultDecisionLogBuffer is the queue length when NewDecisionLog is given
// no positive size; the same as the configuration's default
// (policy.decision_log_buffer).
const DefaultDecisionLogBuffer = 10000

// dropWarnInterval bounds how often dropped decisions are reported.
const dropWarnInterval = 10 * time.Second

// DecisionLogCloseTimeout bounds how long Close waits for the sink to take
// the lines still queued or buffered: a sink stuck for good (a full pipe,
// a FIFO nobody reads, a hung network file system) must not hang shutdown.
// Past it Close gives up, counts every line not written as dropped and says
// how many in its error.
const DecisionLogCloseTimeout = 5 * time.Second

// flushInterval is the longest a decision-log line waits in the buffer
// once the queue is empty.
const flushInterval = 10 * time.Millisecond

type traceIDKey struct{}

// WithTraceID returns ctx carrying the trace id that decisions made under it
// are logged with.
func WithTraceID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, traceIDKey{}, id)
}

// TraceID returns the trace id set by WithTraceID, or "".
func TraceID(ctx context.Context) string {
	id, _ := ctx.Value(traceIDKey{}).(string)
	return id
}

// DecisionLog writes one JSON line per decision, asynchronously: Decide only
// queues the decision; masking, encoding and writing happen on the log's
// own goroutine. When the queue is full the decision is dropped and
// counted, and a warning with the count is logged at most every 10s.
type DecisionLog struct {
	w      *bufio.Writer // nil: forward to OPA's decision-log plugin only
	sink   *sinkWriter   // under w: counts the lines the sink took
	ch     chan record
	done   chan struct{}
	logger atomic.Pointer[slog.Logger]

	mu        sync.RWMutex // guards closed against sends on a closed ch
	closed    bool
	closeOnce sync.Once // closes closing
	endOnce   sync.Once // the rest of Close, whose result is closeErr
	closeErr  error
	// closeWithin bounds Close's wait for the sink (DecisionLogCloseTimeout).
	closeWithin time.Duration

	// pending counts the decisions queued and not yet done with: a line is
	// done once the sink has taken its last byte (or it failed, or there is
	// no line to write). It is lowered under pendingMu, which Close takes
	// to give up on the sink, so that a line is written or counted as
	// dropped, never neither (a line in the write the sink is stuck on is
	// counted, even if the sink takes it after all).
	pending   atomic.Int64
	pendingMu sync.Mutex
	abandoned bool // Close gave up on the sink: nothing more is written

	dropped  atomic.Uint64
	failed   atomic.Uint64 // writes or forwards that failed
	reported atomic.Uint64 // dropped+failed when last warned
	lastWarn atomic.Int64  // unix ns of the last warning
	writeErr error         // first write error, owned by the goroutine
	// block makes a decision wait, up to blockFor, for room in a full
	// queue instead of being dropped (BlockWhenFull). Once a wait has run
	// out, overflowing drops at once until the queue is empty again, so
	// that a stuck sink costs the bound once, not once per decision (a
	// list decided entry by entry makes many). closing ends every wait
	// when Close begins.
	block       bool
	blockFor    time.Duration
	overflowing atomic.Bool
	closing     chan struct{}
}

// BlockWhenFull makes the log hold a decision whose queue is full until
// there is room, at most wait, before it is dropped (and counted): the
// request that made the decision waits with it, so a slow sink slows the
// gateway instead of losing lines. After a wait that ran out, decisions
// are dropped at once until the queue has emptied, so a stuck sink costs
// the bound once, not per decision; Close ends the waits. Call it before
// the log is used.
func (l *DecisionLog) BlockWhenFull(wait time.Duration) {
	l.block, l.blockFor = true, wait
}

// NewDecisionLog starts a decision log writing to w through a queue of
// bufferSize decisions (DefaultDecisionLogBuffer if not positive). A nil w
// writes no lines (decisions still reach OPA's decision-log plugin when
// bundles configure one). Close flushes it.
func NewDecisionLog(w io.Writer, bufferSize int) *DecisionLog {
	if bufferSize <= 0 {
		bufferSize = DefaultDecisionLogBuffer
	}
	l := &DecisionLog{ch: make(chan record, bufferSize), done: make(chan struct{}), closing: make(chan struct{}), closeWithin: DecisionLogCloseTimeout}
	if w != nil {
		l.sink = &sinkWriter{w: w, l: l}
		l.w = bufio.NewWriterSize(l.sink, 64<<10)
	}
	l.logger.Store(slog.Default())
	go l.run()
	return l
}

// Dropped returns how many decisions were dropped because the queue was
// full or the log closed, or were not written because Close gave up on a
// stuck sink.
func (l *DecisionLog) Dropped() uint64 { return l.dropped.Load() }

// Close stops accepting decisions, writes the queued ones, flushes and
// returns the first write error. If the sink has not taken every line
// within DecisionLogCloseTimeout (it is stuck), Close gives up on it: the
// lines not written are counted as dropped, and the error says how many
// and which sink. It is safe to call more than once; later calls return
// the first one's result.
func (l *DecisionLog) Close() error {
	l.closeOnce.Do(func() { close(l.closing) }) // ends the waits of BlockWhenFull before taking the lock
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	l.endOnce.Do(func() { l.closeErr = l.finish() })
	return l.closeErr
}

// finish waits, within closeWithin, for the log's goroutine to write and
// flush what is queued.
func (l *DecisionLog) finish() error {
	t := time.NewTimer(l.closeWithin)
	defer t.Stop()
	select {
	case <-l.done:
		l.warn(true)
		return l.writeErr
	case <-t.C:
	}
	l.pendingMu.Lock()
	l.abandoned = true
	n := l.pending.Load() // no decision is queued any more: ch is closed
	l.pendingMu.Unlock()
	l.dropped.Add(uint64(n))
	l.warn(true)
	return fmt.Errorf("decision log: the sink %s did not take the queued lines within %s; %d decision lines were not written (counted as dropped)", l.sinkName(), l.closeWithin, n)
}

// sinkName names the sink in errors: a file's name, or the writer's type.
func (l *DecisionLog) sinkName() string {
	if l.sink == nil {
		return "(OPA's decision-log plugin)"
	}
	if f, ok := l.sink.w.(interface{ Name() string }); ok {
		return strconv.Quote(f.Name())
	}
	return fmt.Sprintf("%T", l.sink.w)
}

// doneWith marks n decisions done with: written, failed or without a line.
func (l *DecisionLog) doneWith(n int64) {
	if n == 0 {
		return
	}
	l.pendingMu.Lock()
	if !l.abandoned {
		l.pending.Add(-n)
	}
	l.pendingMu.Unlock()
}

// errAbandoned is what the sink is told after Close gave up on it.
var errAbandoned = errors.New("decision log closed: the sink did not take the lines in time")

// sinkWriter is the sink under the log's buffer: it marks a line done
// when the sink has taken its last byte. Used on the log's goroutine only.
type sinkWriter struct {
	w       io.Writer
	l       *DecisionLog
	written int64   // bytes the sink took
	total   int64   // bytes of the lines given to the buffer
	ends    []int64 // where each line given to the buffer and not yet taken ends
}

// line notes a line of n bytes (its newline included) about to be given
// to the buffer.
func (s *sinkWriter) line(n int) {
	s.total += int64(n)
	s.ends = append(s.ends, s.total)
}

// lost marks the lines given to the buffer and not taken as done with:
// after a write error the buffer takes nothing more, and the failure is
// counted.
func (s *sinkWriter) lost() {
	s.l.doneWith(int64(len(s.ends)))
	s.ends = s.ends[:0]
	s.written = s.total
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	s.l.pendingMu.Lock()
	abandoned := s.l.abandoned
	s.l.pendingMu.Unlock()
	if abandoned {
		return 0, errAbandoned
	}
	n, err := s.w.Write(p)
	s.written += int64(n)
	i := 0
	for i < len(s.ends) && s.ends[i] <= s.written {
		i++
	}
	s.ends = s.ends[:copy(s.ends, s.ends[i:])]
	s.l.doneWith(int64(i))
	return n, err
}

func (l *DecisionLog) setLogger(log *slog.Logger) { l.logger.Store(log) }

// enqueue queues r: without blocking, or, with BlockWhenFull, waiting for
// room up to its bound; a decision that cannot be queued is dropped and
// counted.
func (l *DecisionLog) enqueue(r record) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.closed {
		l.pending.Add(1) // before the send: the log's goroutine may be done with r at once
		select {
		case l.ch <- r:
			return
		default:
		}
		if l.block && !l.overflowing.Load() {
			t := time.NewTimer(l.blockFor)
			defer t.Stop()
			select {
			case l.ch <- r:
				return
			case <-t.C:
				l.overflowing.Store(true)
			case <-l.closing:
			}
		}
		l.doneWith(1)
	}
	l.dropped.Add(1)
	l.warn(false)
}

func (l *DecisionLog) run() {
	defer close(l.done)
	tick := time.NewTicker(dropWarnInterval)
	defer tick.Stop()
	// Lines reach the file when the queue is empty, at most every
	// flushInterval: a write per decision would cost a system call per
	// call under load.
	flushTimer := time.NewTimer(flushInterval)
	flushTimer.Stop()
	var lastFlush time.Time
	pending := false
	for {
		select {
		case r, ok := <-l.ch:
			if !ok {
				l.flush()
				return
			}
			l.write(&r)
			if len(l.ch) == 0 {
				l.overflowing.Store(false) // the sink caught up: BlockWhenFull waits again
			}
			if len(l.ch) > 0 || pending {
				continue
			}
			if wait := flushInterval - time.Since(lastFlush); wait > 0 {
				pending = true
				flushTimer.Reset(wait)
				continue
			}
			l.flush()
			lastFlush = time.Now()
		case <-flushTimer.C:
			pending = false
			l.flush()
			lastFlush = time.Now()
		case <-tick.C:
			l.warn(false)
		}
	}
}

func (l *DecisionLog) write(r *record) {
	toOPA := r.policy != nil && r.policy.opaLogs != nil
	if !toOPA && l.w == nil || l.isAbandoned() {
		l.doneWith(1)
		return
	}
	if r.lazy != nil {
		r.boundInput(r.lazy)
	}
	line := r.line(l.logger.Load(), !toOPA) // masked once, for every sink
	if toOPA {
		if err := forwardToOPA(r, &line); err != nil {
			l.failure(err)
		}
	}
	if l.w == nil {
		l.doneWith(1)
		return
	}
	bs, err := line.appendJSON(make([]byte, 0, 2048))
	if err == nil && len(bs) > maxLoggedLine {
		line.InputOmitted = fmt.Sprintf("the line would have been %d bytes, over the decision log's limit of %d", len(bs), maxLoggedLine)
		line.Input, line.Erased, line.Masked, line.Truncated = nil, nil, nil, nil
		bs, err = line.appendJSON(bs[:0])
	}
	if err != nil {
		l.doneWith(1)
		l.failure(err)
		return
	}
	l.sink.line(len(bs) + 1)
	if _, err = l.w.Write(append(bs, '\n')); err != nil {
		l.sink.lost()
		l.failure(err)
	}
}

func (l *DecisionLog) flush() {
	if l.w != nil {
		if err := l.w.Flush(); err != nil {
			l.sink.lost()
			l.failure(err)
		}
	}
}

// isAbandoned says whether Close gave up on the sink.
func (l *DecisionLog) isAbandoned() bool {
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	return l.abandoned
}

func (l *DecisionLog) failure(err error) {
	if l.isAbandoned() {
		return // what was not written is counted as dropped by Close
	}
	if l.writeErr == nil {
		l.writeErr = err
	}
	l.failed.Add(1)
	l.warn(false)
}

// warn reports new drops and failures, at most once per dropWarnInterval
// unless forced.
func (l *DecisionLog) warn(force bool) {
	dropped, failed := l.dropped.Load(), l.failed.Load()
	prev := l.reported.Load()
	if dropped+failed == prev {
		return
	}
	now, last := time.Now().UnixNano(), l.lastWarn.Load()
	if !force && now-last < int64(dropWarnInterval) {
		return
	}
	if !l.lastWarn.CompareAndSwap(last, now) || !l.reported.CompareAndSwap(prev, dropped+failed) {
		return
	}
	l.logger.Load().Warn("policy: decisions missing from the decision log",
		slog.Uint64("dropped_total", dropped), slog.Uint64("failed_total", failed),
		slog.Uint64("new", dropped+failed-prev))
}

// record is one decision on its way to the log.
type record struct {
	time                                    time.Time
	decisionID, traceID, sessionID, userSub string
	phase, method, target, server           string
	allow                                   bool
	allowUnapproved                         bool
	reasons, requiredScopes                 []string
	granted                                 []string // non-nil for scopes (phases grant and upstream)
	path                                    string   // the decision path of the document evaluated
	revision, err                           string
	evalNS                                  int64
	input                                   ast.Value // unmasked, bounded; masked on the log goroutine
	truncated                               []string  // JSON pointers of what bounding cut from input
	policy                                  *compiled // the generation that decided
	cached                                  bool      // served by the decision cache
	residual                                bool      // evaluated from a residual (residual.go)
	lazy                                    *Input    // converted to input on the log goroutine (cached decisions)
}

func newRecord(ctx context.Context, now time.Time, in *Input, input ast.Value, d Decision, err error, elapsed time.Duration, c *compiled) record {
	r := record{
		time: now, decisionID: d.ID, traceID: TraceID(ctx),
		allow: d.Allow, allowUnapproved: d.AllowUnapproved, reasons: boundStrings(d.Reasons), requiredScopes: boundStrings(d.RequiredScopes),
		revision: d.Revision, evalNS: elapsed.Nanoseconds(), policy: c,
	}
	if input != nil {
		// Bounded here, on the caller's goroutine, so that the queue never
		// holds a huge input (see logbounds.go).
		r.setInput(input)
	}
	if c != nil {
		r.path = c.path
	}
	if err != nil {
		r.err = describeError(err)
	}
	if in != nil {
		r.sessionID, r.userSub, r.phase, r.method = in.Request.SessionID, in.User.Sub, in.Phase, in.Method
		r.target, r.server = in.target()
		r.target, _ = truncateString(r.target)
		r.sessionID, _ = truncateString(r.sessionID)
	}
	return r
}

// setInput bounds input into r.
func (r *record) setInput(input ast.Value) {
	if fit := (bounder{budget: maxLoggedLine}); fit.fits(input) {
		r.input, r.truncated = input, nil
		return
	}
	b := bounder{budget: maxLoggedLine}
	r.input, _ = b.bound(input)
	r.truncated = b.pointers()
}

// boundInput converts in for a decision the cache served, on the log's
// goroutine; a conversion that fails leaves the line without input.
func (r *record) boundInput(in *Input) {
	r.lazy = nil
	if input, err := in.ASTValue(); err == nil {
		r.setInput(input)
	}
}

// target names what the request is about, and its upstream server. In
// the authorization-server phases, the target is the OAuth client: its id,
// or the name of a client registering dynamically; in the console phase,
// the client whose grant is revoked.
func (in *Input) target() (target, server string) {
	if in.Server != nil {
		server = in.Server.Name
	}
	switch {
	case in.Registration != nil:
		return firstNonEmpty(in.Registration.ClientID, in.Registration.ClientName), server
	case (in.Phase == PhaseGrant || in.Phase == PhaseConsole) && in.Client != nil:
		return in.Client.ID, server
	case in.Tool != nil:
		return in.Tool.Name, firstNonEmpty(server, in.Tool.Server)
	case in.Prompt != nil:
		return in.Prompt.Name, firstNonEmpty(server, in.Prompt.Server)
	case in.Resource != nil:
		return firstNonEmpty(in.Resource.URI, in.Resource.URITemplate), firstNonEmpty(server, in.Resource.Server)
	}
	return "", server
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// logLine is the JSON shape of one decision-log line.
type logLine struct {
	Time       string `json:"time"`
	DecisionID string `json:"decision_id"`
	TraceID    string `json:"trace_id"`
	SessionID  string `json:"session_id"`
	UserSub    string `json:"user_sub"`
	Phase      string `json:"phase"`
	Method     string `json:"method"`
	Target     string `json:"target"`
	Server     string `json:"server"`
	Allow      bool   `json:"allow"`
	// AllowUnapproved is true when the policy let a target that awaits
	// approval through (docs/approval.md); absent otherwise.
	AllowUnapproved bool     `json:"allow_unapproved,omitempty"`
	Reasons         []string `json:"reasons"`
	// Granted are the scopes a grant (Engine.Grant) or an upstream-scopes
	// decision (Engine.UpstreamScopes) granted, [] when none; absent from
	// the lines of other decisions.
	Granted  []string `json:"granted,omitzero"`
	Revision string   `json:"policy_revision"`
	EvalNS   int64    `json:"eval_ns"`
	// Cached is true when the decision cache served the decision
	// (Engine.DecideCached): the policy was not evaluated for this call.
	Cached bool `json:"cached,omitempty"`
	// Residual is true when the decision was evaluated from the residual
	// of partial evaluation for its identity and target (residual.go).
	Residual bool     `json:"residual,omitempty"`
	Error    string   `json:"error,omitempty"`
	Input    any      `json:"input,omitempty"`
	Erased   []string `json:"erased,omitempty"`
	Masked   []string `json:"masked,omitempty"`
	// Truncated lists the JSON pointers (under input) of values the log
	// cut to its bounds; InputOmitted says why the input is missing from a
	// line that would have been too long.
	Truncated    []string `json:"truncated,omitempty"`
	InputOmitted string   `json:"input_omitted,omitempty"`
}

// appendJSON appends the line as json.Marshal writes it (the same fields,
// order and omissions), without reflection, and an input the decision log
// wrote itself (maskJSON) as it is, not scanned again.
func (l *logLine) appendJSON(buf []byte) ([]byte, error) {
	w := jsonWriter{buf: buf}
	field := func(name string) {
		if len(w.buf) > len(buf) {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(append(append(w.buf, '"'), name...), `":`...)
	}
	strs := func(name string, v []string) {
		field(name)
		if v == nil {
			w.buf = append(w.buf, "null"...)
			return
		}
		w.buf = append(w.buf, '[')
		for i, s := range v {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.str(s)
		}
		w.buf = append(w.buf, ']')
	}
	w.buf = append(w.buf, '{')
	buf = w.buf
	for _, f := range [...]struct{ name, value string }{
		{"time", l.Time}, {"decision_id", l.DecisionID}, {"trace_id", l.TraceID}, {"session_id", l.SessionID},
		{"user_sub", l.UserSub}, {"phase", l.Phase}, {"method", l.Method}, {"target", l.Target}, {"server", l.Server},
	} {
		field(f.name)
		w.str(f.value)
	}
	field("allow")
	w.buf = strconv.AppendBool(w.buf, l.Allow)
	if l.AllowUnapproved {
		field("allow_unapproved")
		w.buf = append(w.buf, "true"...)
	}
	strs("reasons", l.Reasons)
	if l.Granted != nil {
		strs("granted", l.Granted)
	}
	field("policy_revision")
	w.str(l.Revision)
	field("eval_ns")
	w.buf = strconv.AppendInt(w.buf, l.EvalNS, 10)
	if l.Cached {
		field("cached")
		w.buf = append(w.buf, "true"...)
	}
	if l.Residual {
		field("residual")
		w.buf = append(w.buf, "true"...)
	}
	if l.Error != "" {
		field("error")
		w.str(l.Error)
	}
	switch in := l.Input.(type) {
	case nil:
	case json.RawMessage:
		field("input")
		if in == nil {
			in = json.RawMessage("null")
		}
		w.buf = append(w.buf, in...)
	default:
		bs, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		field("input")
		w.buf = append(w.buf, bs...)
	}
	for _, f := range [...]struct {
		name  string
		value []string
	}{{"erased", l.Erased}, {"masked", l.Masked}, {"truncated", l.Truncated}} {
		if len(f.value) > 0 {
			strs(f.name, f.value)
		}
	}
	if l.InputOmitted != "" {
		field("input_omitted")
		w.str(l.InputOmitted)
	}
	return append(w.buf, '}'), nil
}

// line is r's line, its input masked; written as JSON when asJSON and
// maskJSON can (OPA's decision-log plugin takes Go values).
func (r *record) line(log *slog.Logger, asJSON bool) logLine {
	if r.input == nil {
		return r.lineWith(nil, nil, nil)
	}
	rules := r.maskRules(log) // evaluated once, whichever way it is written
	if asJSON {
		if input, erased, masked, ok := maskJSON(r.input, rules); ok {
			return r.lineWith(input, erased, masked)
		}
	}
	input, erased, masked, err := maskValue(r.input, rules)
	if err != nil {
		log.Warn("policy: decision log: input", slog.String("decision_id", r.decisionID), slog.String("error", err.Error()))
	}
	return r.lineWith(input, erased, masked)
}

// lineWith is the line of r with its masked input (nil: none).
func (r *record) lineWith(input any, erased, masked []string) logLine {
	if raw, ok := input.(json.RawMessage); ok && raw == nil {
		input = nil
	}
	return logLine{
		Time: r.time.UTC().Format(time.RFC3339Nano), DecisionID: r.decisionID, TraceID: r.traceID,
		SessionID: r.sessionID, UserSub: r.userSub, Phase: r.phase, Method: r.method,
		Target: r.target, Server: r.server, Allow: r.allow, AllowUnapproved: r.allowUnapproved, Reasons: r.reasons, Granted: r.granted,
		Revision: r.revision, EvalNS: r.evalNS, Cached: r.cached, Residual: r.residual, Error: r.err,
		Input: input, Erased: erased, Masked: masked, Truncated: r.truncated,
	}
}

// DecisionLogDropped is the number of decisions the engine's decision log
// dropped because its buffer was full (0 without a decision log): for the
// mcpgate.decision_log.dropped metric.
func (e *Engine) DecisionLogDropped() uint64 {
	if l := e.dlog.Load(); l != nil {
		return l.Dropped()
	}
	return 0
}
