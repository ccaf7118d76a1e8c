package gateway

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// registry holds the open sessions (2025 revisions) of this replica: whose
// they are, the identity that opened them and when they were last used.
//
// Identity: a session is served by the view (the filtered lists) of the
// identity that opened it. The SDK binds a session to its user; the gateway
// also binds it to the identity's view key less the scopes (sessionKey), so
// a later request of the same user whose token says something else (other
// groups: the user moved team) gets HTTP 404 and initialises a new session,
// whose lists follow the new identity. Calls are decided per request
// regardless; this keeps the lists honest too. A token refreshed with the
// same claims has the same key (volatile claims such as exp are left out),
// and so has one with other scopes (a step-up), whose client retries in
// its session.
//
// Limits: a user holds at most limits.sessions_per_user sessions; opening
// one more closes the one idle longest (one with a request in flight only
// when all have one).
type registry struct {
	perUser int
	onEvict func(*mcp.ServerSession)

	mu     sync.Mutex
	byID   map[string]*openSession
	byUser map[string]map[*openSession]bool

	// replayed counts the bytes the sessions' streams keep (resume.go);
	// detachedWait is how long a request of the SDK's path whose client
	// went waits to be resumed (watchDetached; replayKeep, shorter in
	// tests).
	replayed     atomic.Int64
	detachedWait atomic.Int64
}

type openSession struct {
	ss       *mcp.ServerSession
	view     *view // the view that serves it
	user     string
	key      string // sessionKey of the identity that opened it
	lastUsed time.Time
	inflight int
	// posts counts the POSTs in flight: a session is idle (idleSweep)
	// when none is, however long its GET event stream has been open.
	posts int
	// logLevel is the level the client asked for with logging/setLevel
	// ("" until it does): the fast path filters the upstream's log
	// messages by it, as the SDK's session does (fastcall.go).
	logLevel string
	// calls cancel the fast-path calls in flight by JSON-RPC id, for
	// the client's notifications/cancelled and when the session ends.
	calls map[string]*context.CancelFunc
	// asks are the requests fast-path calls relayed to the client, by
	// the id the gateway gave them: the client's answer goes there.
	asks map[string]chan []byte
	// streams are the fast-path calls' event streams kept for the
	// client to resume, by stream id (resume.go).
	streams map[string]*replayStream
}

func newRegistry(perUser int, onEvict func(*mcp.ServerSession)) *registry {
	reg := &registry{perUser: perUser, onEvict: onEvict,
		byID: map[string]*openSession{}, byUser: map[string]map[*openSession]bool{}}
	reg.detachedWait.Store(int64(replayKeep))
	return reg
}

// add records a session initialize admitted, until it ends, and closes the
// user's session idle longest when the user now holds too many.
func (reg *registry) add(ss *mcp.ServerSession, v *view, user, key string) {
	id := ss.ID()
	if id == "" {
		return
	}
	reg.mu.Lock()
	if _, ok := reg.byID[id]; ok { // initialize sent again on an open session
		reg.mu.Unlock()
		return
	}
	s := &openSession{ss: ss, view: v, user: user, key: key, lastUsed: time.Now()}
	reg.byID[id] = s
	if reg.byUser[user] == nil {
		reg.byUser[user] = map[*openSession]bool{}
	}
	reg.byUser[user][s] = true
	var victim *openSession
	if len(reg.byUser[user]) > reg.perUser {
		victim = reg.idlest(user, s)
		// Out of the count now, not when its close is seen: a burst of
		// sessions must not see the user over the limit meanwhile.
		reg.forgetLocked(victim)
	}
	reg.mu.Unlock()
	go func() {
		ss.Wait()
		reg.remove(id)
	}()
	if victim != nil {
		reg.onEvict(victim.ss)
		victim.ss.Close()
	}
}

// idlest returns the user's session, other than except, to close first.
func (reg *registry) idlest(user string, except *openSession) *openSession {
	// first reports whether a goes before b: idle before busy, then the
	// one unused longest.
	first := func(a, b *openSession) bool {
		if (a.inflight == 0) != (b.inflight == 0) {
			return a.inflight == 0
		}
		return a.lastUsed.Before(b.lastUsed)
	}
	var best *openSession
	for s := range reg.byUser[user] {
		if s != except && (best == nil || first(s, best)) {
			best = s
		}
	}
	return best
}

func (reg *registry) remove(id string) {
	reg.mu.Lock()
	s, ok := reg.byID[id]
	if ok {
		reg.forgetLocked(s)
	}
	reg.mu.Unlock()
}

// forgetLocked drops s from the registry and cancels its fast-path calls:
// a call does not outlive its session, as on the SDK's path.
func (reg *registry) forgetLocked(s *openSession) {
	if reg.byID[s.ss.ID()] == s {
		delete(reg.byID, s.ss.ID())
	}
	delete(reg.byUser[s.user], s)
	if len(reg.byUser[s.user]) == 0 {
		delete(reg.byUser, s.user)
	}
	for _, cancel := range s.calls {
		(*cancel)()
	}
	for _, rs := range s.streams {
		rs.forget()
	}
}

// begin notes a request of session id by a caller with session key key. It
// reports false when the session was opened by another identity; otherwise
// the caller must call the returned end when the request is done.
func (reg *registry) begin(id, key string, post bool) (end func(), ok bool) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	s, known := reg.byID[id]
	if !known {
		return func() {}, true // not ours to judge: the SDK answers an unknown session
	}
	if s.key != key {
		return nil, false
	}
	s.inflight++
	if post {
		s.posts++
	}
	s.lastUsed = time.Now()
	return func() {
		reg.mu.Lock()
		s.inflight--
		if post {
			s.posts--
		}
		s.lastUsed = time.Now()
		reg.mu.Unlock()
	}, true
}

// fastSession is what the fast path needs of an open session.
type fastSession struct {
	ss       *mcp.ServerSession
	view     *view
	logLevel string
}

// fast returns the open session id, or false when this registry does not
// hold it (the SDK answers for it).
func (reg *registry) fast(id string) (fastSession, bool) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	s, ok := reg.byID[id]
	if !ok || s.view == nil {
		return fastSession{}, false
	}
	return fastSession{ss: s.ss, view: s.view, logLevel: s.logLevel}, true
}

// setLogLevel records the level session id asked for.
func (reg *registry) setLogLevel(id, level string) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if s, ok := reg.byID[id]; ok {
		s.logLevel = level
	}
}

// track registers a fast-path call of session id under its JSON-RPC id,
// so that the client's notifications/cancelled reaches it; the returned
// function unregisters it.
func (reg *registry) track(id, call string, cancel context.CancelFunc) func() {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	s, ok := reg.byID[id]
	if !ok {
		return func() {}
	}
	if s.calls == nil {
		s.calls = map[string]*context.CancelFunc{}
	}
	entry := &cancel
	s.calls[call] = entry
	return func() {
		reg.mu.Lock()
		if s.calls[call] == entry { // not another call that reused the id
			delete(s.calls, call)
		}
		reg.mu.Unlock()
	}
}

// expect registers a request relayed to session id's client under call,
// a JSON id: the returned channel receives the client's answer; done
// unregisters it.
func (reg *registry) expect(id, call string) (<-chan []byte, func()) {
	ch := make(chan []byte, 1)
	reg.mu.Lock()
	defer reg.mu.Unlock()
	s, ok := reg.byID[id]
	if !ok {
		return ch, func() {}
	}
	if s.asks == nil {
		s.asks = map[string]chan []byte{}
	}
	s.asks[call] = ch
	return ch, func() {
		reg.mu.Lock()
		delete(s.asks, call)
		reg.mu.Unlock()
	}
}

// answer hands body, the client's answer, to the request session id
// relayed under call, and reports whether one was waiting.
func (reg *registry) answer(id, call string, body []byte) bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	s, ok := reg.byID[id]
	if !ok {
		return false
	}
	ch, ok := s.asks[call]
	if !ok {
		return false
	}
	delete(s.asks, call) // one answer per request
	ch <- body
	return true
}

// cancel cancels the fast-path call of session id named call, if any.
func (reg *registry) cancel(id, call string) {
	reg.mu.Lock()
	var cancel *context.CancelFunc
	if s, ok := reg.byID[id]; ok {
		cancel = s.calls[call]
	}
	reg.mu.Unlock()
	if cancel != nil {
		(*cancel)()
	}
}

// idleSweep closes, every interval until ctx ends, the sessions that had
// no POST in flight for timeout. The gateway keeps this clock rather than
// the SDK's handler, because requests on the fast path (fastcall.go) never
// reach the SDK's session.
func (reg *registry) idleSweep(ctx context.Context, timeout, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		cutoff := now.Add(-timeout)
		var idle []*mcp.ServerSession
		reg.mu.Lock()
		for _, s := range reg.byID {
			s.pruneLocked(now)
			if s.posts == 0 && s.lastUsed.Before(cutoff) {
				// Out of the registry before it is closed: a request
				// that comes meanwhile finds no session (404), never one
				// closing under it.
				reg.forgetLocked(s)
				idle = append(idle, s.ss)
			}
		}
		reg.mu.Unlock()
		for _, ss := range idle {
			ss.Close()
		}
	}
}

// count returns the number of sessions this registry holds.
func (reg *registry) count() int {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return len(reg.byID)
}

// bindSession records a session initialize admitted, served by v.
func (g *Gateway) bindSession(req mcp.Request, v *view) {
	ss, _ := req.GetSession().(*mcp.ServerSession)
	if ss == nil {
		return
	}
	var user string
	if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
		user = extra.TokenInfo.UserID
	}
	g.registry.add(ss, v, user, v.bindKey)
}

// sameIdentity serves a request of a stateful session only when its caller
// has the identity the session was opened with (404 otherwise), and notes
// the session's use.
func (g *Gateway) sameIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(sessionIDHeader)
		if id == "" {
			next.ServeHTTP(w, r)
			return
		}
		caller, _ := authn.FromContext(r.Context())
		end, ok := g.registry.begin(id, g.keys.of(caller).session, r.Method == http.MethodPost)
		if !ok {
			http.Error(w, "session not found: the token's identity (groups, claims) is not the one this session "+
				"was opened with; initialize a new session", http.StatusNotFound)
			return
		}
		defer end()
		next.ServeHTTP(w, r)
	})
}
