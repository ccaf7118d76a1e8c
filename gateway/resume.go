package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Resumable event streams for clients of the 2025 revisions
// (Last-Event-ID; SEP-1699).
//
// A client of a 2025 revision that loses the connection of a call's event
// stream may reconnect with a GET carrying the id of the last event it
// got, and the server replays what came after and goes on. The gateway
// keeps those streams itself, on both paths: the fast path's (below) and
// the SDK's (sdkStream, which keeps what the SDK writes); it does not use
// the go-sdk's EventStore, which, on the gateway's handler, left requests
// of the conformance suite unanswered on a loaded machine (8 of 48 runs;
// none of 24 without it; docs/architecture.md). On the fast path a call's
// answer becomes an event stream when the upstream sends something before
// its result (progress, a log message, a request to the client); the
// stream is then kept here: it begins with a
// priming event (an id and no data, from 2025-11-25 on), every event has
// an id "<stream>_<n>", and a copy of the events is kept until the stream
// has ended and a while after (replayKeep), bounded per stream
// (replayBytes), for the whole gateway (replayBudget) and per session
// (replayStreams); one connection writes a stream at a time (a second
// gets 409). A call whose stream began does not end when its
// client's connection does: it goes on, bounded by the server's timeout,
// ended by notifications/cancelled or by the end of the session, and a GET
// with Last-Event-ID on this replica replays it and follows it to the
// end. A call whose answer had not begun (it would be a JSON body, which
// cannot be resumed) is cancelled when its client goes, as before.
//
// Replicas: the streams live on the replica that serves the call. A GET
// that reaches another replica (a session taken over, a load balancer
// without affinity) finds no such stream and is answered 400 with an
// error saying so; the call's answer is lost to that client, which may
// call again. Sticky routing by Mcp-Session-Id keeps a session's GETs on
// its replica (docs/deployment.md).

const (
	// replayBytes bounds the events kept of one stream; beyond it the
	// oldest go (the last event is always kept).
	replayBytes = 1 << 20
	// replayStreams bounds the streams kept per session; beyond it the
	// oldest ended stream goes, and a call finds no room while all are
	// in flight (its stream then has no ids and cannot be resumed).
	replayStreams = 16
	// replayKeep is how long an ended stream can still be resumed.
	replayKeep = time.Minute
	// replayRetry is the reconnection delay the priming event suggests.
	replayRetry = 1000
	// replayBudget bounds the bytes kept by the streams of all sessions.
	replayBudget = 64 << 20
	// replayPrefix starts the id of every stream the gateway keeps: the
	// SDK's stream ids are upper-case base32, so the two never meet.
	replayPrefix = "fp"
	// primingVersion is the first revision whose streams begin with a
	// priming event.
	primingVersion = "2025-11-25"
)

// replayStream is one event stream of a session the gateway keeps.
type replayStream struct {
	id     string
	budget *atomic.Int64 // the bytes kept by all streams (replayBudget)

	mu      sync.Mutex
	first   int      // index of events[0]
	events  [][]byte // the events' data from index first on; nil: the priming event
	size    int
	done    bool
	doneAt  time.Time
	writers int           // connections writing the stream to the client (at most one)
	wake    chan struct{} // closed when an event is added or the stream ends
}

func newReplayStream(budget *atomic.Int64) *replayStream {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return &replayStream{id: replayPrefix + hex.EncodeToString(b[:]), budget: budget, writers: 1, wake: make(chan struct{})}
}

// add keeps a copy of the data of the stream's next event and returns
// its id. The oldest events go beyond replayBytes, and every event goes
// when the gateway's streams hold replayBudget bytes: a resume from
// before what is kept is refused, never served with a gap.
func (rs *replayStream) add(data []byte) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.events = append(rs.events, bytes.Clone(data))
	rs.size += len(data)
	rs.budget.Add(int64(len(data)))
	for len(rs.events) > 0 && (rs.size > replayBytes || rs.budget.Load() > replayBudget) {
		rs.dropFirstLocked()
	}
	idx := rs.first + len(rs.events) - 1
	if len(rs.events) == 0 {
		idx = rs.first - 1
	}
	close(rs.wake)
	rs.wake = make(chan struct{})
	return rs.id + "_" + strconv.Itoa(idx)
}

func (rs *replayStream) dropFirstLocked() {
	rs.size -= len(rs.events[0])
	rs.budget.Add(-int64(len(rs.events[0])))
	rs.events[0] = nil
	rs.events = rs.events[1:]
	rs.first++
}

// forget drops every event kept, when the stream itself goes.
func (rs *replayStream) forget() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for len(rs.events) > 0 {
		rs.dropFirstLocked()
	}
}

// end marks the stream complete: its answer was the last event.
func (rs *replayStream) end() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.done, rs.doneAt = true, time.Now()
	close(rs.wake)
	rs.wake = make(chan struct{})
}

// claim attaches a connection that writes the stream, unless one is:
// one stream, one writer, so that nothing reaches the client twice.
func (rs *replayStream) claim() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.writers > 0 {
		return false
	}
	rs.writers++
	return true
}

// release detaches a connection that wrote the stream (the POST that
// began it, once, or a GET that claimed it).
func (rs *replayStream) release() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.writers--
}

// after returns a copy of the events after index last, the index of the
// last one, whether the stream has ended, and a channel closed when there
// is more. ok is false when events after last are no longer kept.
func (rs *replayStream) after(last int) (events [][]byte, next int, done bool, wake <-chan struct{}, ok bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	next = rs.first + len(rs.events) - 1
	if last+1 < rs.first {
		return nil, last, rs.done, rs.wake, false
	}
	if from := max(last+1-rs.first, 0); from < len(rs.events) {
		events = slices.Clone(rs.events[from:])
	}
	return events, next, rs.done, rs.wake, true
}

// expired reports whether the stream ended over replayKeep ago.
func (rs *replayStream) expired(now time.Time) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.done && now.Sub(rs.doneAt) > replayKeep
}

// pruneLocked drops s's streams that expired.
func (s *openSession) pruneLocked(now time.Time) {
	for id, rs := range s.streams {
		if rs.expired(now) {
			rs.forget()
			delete(s.streams, id)
		}
	}
}

// openStream keeps a new stream of session id, or returns nil when the
// session is not held here or has replayStreams streams in flight.
func (reg *registry) openStream(id string) *replayStream {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	s, ok := reg.byID[id]
	if !ok {
		return nil
	}
	if s.streams == nil {
		s.streams = map[string]*replayStream{}
	}
	s.pruneLocked(time.Now())
	var oldest *replayStream
	for _, rs := range s.streams {
		rs.mu.Lock()
		if rs.done && (oldest == nil || rs.doneAt.Before(oldest.doneAt)) {
			oldest = rs
		}
		rs.mu.Unlock()
	}
	if len(s.streams) >= replayStreams {
		if oldest == nil {
			return nil
		}
		oldest.forget()
		delete(s.streams, oldest.id)
	}
	rs := newReplayStream(&reg.replayed)
	s.streams[rs.id] = rs
	return rs
}

// stream returns session id's stream named stream, if it is kept here.
func (reg *registry) stream(id, stream string) *replayStream {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	s, ok := reg.byID[id]
	if !ok {
		return nil
	}
	rs := s.streams[stream]
	if rs == nil || rs.expired(time.Now()) {
		return nil
	}
	return rs
}

// resumeRequest reports whether r asks to resume a stream the gateway keeps.
func resumeRequest(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasPrefix(r.Header.Get("Last-Event-ID"), replayPrefix)
}

// serveResume answers a GET with Last-Event-ID naming a kept stream:
// the events after it, then the stream's next events until it ends or the
// client goes.
func (g *Gateway) serveResume(w http.ResponseWriter, r *http.Request) {
	lastID := r.Header.Get("Last-Event-ID")
	streamID, idx, ok := strings.Cut(lastID, "_")
	last, err := strconv.Atoi(idx)
	if !ok || err != nil || last < 0 {
		http.Error(w, fmt.Sprintf("malformed Last-Event-ID %q: want <stream>_<n>", lastID), http.StatusBadRequest)
		return
	}
	rs := g.registry.stream(r.Header.Get(sessionIDHeader), streamID)
	if rs == nil {
		http.Error(w, fmt.Sprintf("cannot resume stream %s: this replica does not hold it for this session, or it ended over %s ago; call again",
			streamID, replayKeep), http.StatusBadRequest)
		return
	}
	if !rs.claim() {
		http.Error(w, fmt.Sprintf("stream %s is being written to another connection of this session", streamID), http.StatusConflict)
		return
	}
	defer rs.release()
	events, next, done, wake, ok := rs.after(last)
	if !ok {
		http.Error(w, fmt.Sprintf("cannot resume stream %s after event %d: the events after it are no longer kept (over %d bytes); call again",
			streamID, last, replayBytes), http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush() // the headers now, though no event may come for a while
	for {
		var b []byte
		for i, data := range events {
			if data == nil {
				continue // the priming event
			}
			b = appendEvent(b, rs.id+"_"+strconv.Itoa(next-len(events)+1+i), data)
		}
		if len(b) > 0 {
			if _, err := w.Write(b); err != nil {
				return
			}
			_ = rc.Flush()
		}
		if done {
			return
		}
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		}
		last = next
		if events, next, done, wake, ok = rs.after(last); !ok {
			return // overtaken: the client resumes from what it got, and is told then
		}
	}
}

// appendEvent appends an event of the message stream with id (none when
// "") and data, a line of its own for each of data's lines (an upstream
// may send a message over several).
func appendEvent(b []byte, id string, data []byte) []byte {
	b = append(b, "event: message\n"...)
	if id != "" {
		b = append(b, "id: "...)
		b = append(b, id...)
		b = append(b, '\n')
	}
	for line := range bytes.Lines(data) {
		b = append(b, "data: "...)
		b = append(b, bytes.TrimSuffix(line, []byte("\n"))...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// sdkStream keeps the event stream the SDK's path writes to a POST of a
// 2025 session, as the fast path keeps its own: it opens a replayStream
// when the answer is an event stream (at the SDK's first event: it writes
// nothing before), begins it with a priming event, and writes every event
// again with an id. The SDK's handler gets a request that does not end
// with the client's connection, so it writes the rest of the stream here,
// and a GET with Last-Event-ID resumes it; a request with no stream yet
// ends with the connection, one whose stream nobody resumed ends after
// detachedWait (watchDetached), and a stream delivered whole is dropped.
// (The go-sdk's own EventStore is not used: see above.)
type sdkStream struct {
	http.ResponseWriter
	reg     *registry
	session string
	primes  bool

	wrote    bool
	pending  []byte // an event not yet ended
	detached sync.Once

	mu sync.Mutex // rs: detach runs when the client goes
	rs *replayStream
}

// resumableSDK wraps w and r for the SDK's path when r is a POST of a 2025
// session this replica holds; done must be called when the SDK returned.
func (g *Gateway) resumableSDK(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func()) {
	if r.Method != http.MethodPost {
		return w, r, func() {}
	}
	sid := r.Header.Get(sessionIDHeader)
	s, ok := g.registry.fast(sid)
	if !ok {
		return w, r, func() {}
	}
	ip := s.ss.InitializeParams()
	if ip == nil || ip.ProtocolVersion >= statelessVersion {
		return w, r, func() {}
	}
	sw := &sdkStream{ResponseWriter: w, reg: g.registry, session: sid, primes: ip.ProtocolVersion >= primingVersion}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	stop := context.AfterFunc(r.Context(), func() { // the client went
		rs := sw.stream()
		if rs == nil {
			cancel() // it has no id to resume from: the request ends, as without resumption
			return
		}
		sw.detach() // a GET may resume it
		g.registry.watchDetached(rs, cancel)
	})
	return sw, r.WithContext(ctx), func() {
		attached := stop() // the client's connection lasted to the end
		cancel()
		if rs := sw.stream(); rs != nil {
			rs.end()
			if attached {
				g.registry.dropStream(sid, rs) // delivered whole: nothing to resume
			}
		}
		sw.detach()
	}
}

// watchDetached ends a request of the SDK's path (cancel) once its stream
// rs has had no connection for detachedWait: the SDK may wait for a client
// for ever (the go-sdk's requests of a 2025 session have no timeout), and
// a client that went for good must not hold the handler, its session and
// a stream slot. A client that resumed in time keeps it going.
func (reg *registry) watchDetached(rs *replayStream, cancel context.CancelFunc) {
	wait := time.Duration(reg.detachedWait.Load())
	var check func()
	check = func() {
		rs.mu.Lock()
		done, attached := rs.done, rs.writers > 0
		rs.mu.Unlock()
		switch {
		case done:
		case attached:
			time.AfterFunc(wait, check)
		default:
			cancel()
		}
	}
	time.AfterFunc(wait, check)
}

// dropStream forgets session id's stream rs.
func (reg *registry) dropStream(id string, rs *replayStream) {
	reg.mu.Lock()
	if s, ok := reg.byID[id]; ok && s.streams[rs.id] == rs {
		delete(s.streams, rs.id)
	}
	reg.mu.Unlock()
	rs.forget()
}

func (sw *sdkStream) stream() *replayStream {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.rs
}

func (sw *sdkStream) detach() {
	if rs := sw.stream(); rs != nil {
		sw.detached.Do(rs.release)
	}
}

func (sw *sdkStream) WriteHeader(status int) {
	if sw.wrote {
		return
	}
	sw.wrote = true
	if mt, _, _ := mime.ParseMediaType(sw.Header().Get("Content-Type")); status == http.StatusOK && mt == "text/event-stream" {
		sw.mu.Lock()
		sw.rs = sw.reg.openStream(sw.session)
		sw.mu.Unlock()
	}
	sw.ResponseWriter.WriteHeader(status)
	if sw.rs != nil && sw.primes {
		_, _ = sw.ResponseWriter.Write([]byte("event: prime\nid: " + sw.rs.add(nil) + "\nretry: " + strconv.Itoa(replayRetry) + "\ndata: \n\n"))
	}
}

// Write keeps the events of p and writes them with ids. It reports every
// byte written: what the client did not get is kept for a resume.
func (sw *sdkStream) Write(p []byte) (int, error) {
	if !sw.wrote {
		sw.WriteHeader(http.StatusOK)
	}
	if sw.rs == nil {
		return sw.ResponseWriter.Write(p)
	}
	sw.pending = append(sw.pending, p...)
	var out []byte
	for {
		end := bytes.Index(sw.pending, []byte("\n\n"))
		if end < 0 {
			break
		}
		var data [][]byte
		for _, line := range bytes.Split(sw.pending[:end], []byte("\n")) {
			if d, ok := sseData(sseLine(line)); ok {
				data = append(data, d)
			}
		}
		if len(data) > 0 {
			msg := bytes.Join(data, []byte("\n"))
			out = appendEvent(out, sw.rs.add(msg), msg)
		}
		sw.pending = sw.pending[end+2:]
	}
	if len(out) > 0 {
		_, _ = sw.ResponseWriter.Write(out)
	}
	return len(p), nil
}

func (sw *sdkStream) Flush() {
	_ = http.NewResponseController(sw.ResponseWriter).Flush()
}

func (sw *sdkStream) Unwrap() http.ResponseWriter { return sw.ResponseWriter }
