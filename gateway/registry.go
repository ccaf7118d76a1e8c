package gateway

import (
	"net/http"
	"sync"
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
}

type openSession struct {
	ss       *mcp.ServerSession
	user     string
	key      string // sessionKey of the identity that opened it
	lastUsed time.Time
	inflight int
}

func newRegistry(perUser int, onEvict func(*mcp.ServerSession)) *registry {
	return &registry{perUser: perUser, onEvict: onEvict,
		byID: map[string]*openSession{}, byUser: map[string]map[*openSession]bool{}}
}

// add records a session initialize admitted, until it ends, and closes the
// user's session idle longest when the user now holds too many.
func (reg *registry) add(ss *mcp.ServerSession, user, key string) {
	id := ss.ID()
	if id == "" {
		return
	}
	reg.mu.Lock()
	if _, ok := reg.byID[id]; ok { // initialize sent again on an open session
		reg.mu.Unlock()
		return
	}
	s := &openSession{ss: ss, user: user, key: key, lastUsed: time.Now()}
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
		delete(reg.byID, victim.ss.ID())
		delete(reg.byUser[user], victim)
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
	defer reg.mu.Unlock()
	s, ok := reg.byID[id]
	if !ok {
		return
	}
	delete(reg.byID, id)
	delete(reg.byUser[s.user], s)
	if len(reg.byUser[s.user]) == 0 {
		delete(reg.byUser, s.user)
	}
}

// begin notes a request of session id by a caller with session key key. It
// reports false when the session was opened by another identity; otherwise
// the caller must call the returned end when the request is done.
func (reg *registry) begin(id, key string) (end func(), ok bool) {
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
	s.lastUsed = time.Now()
	return func() {
		reg.mu.Lock()
		s.inflight--
		s.lastUsed = time.Now()
		reg.mu.Unlock()
	}, true
}

// count returns the number of sessions this registry holds.
func (reg *registry) count() int {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return len(reg.byID)
}

// bindSession records a session initialize admitted.
func (g *Gateway) bindSession(req mcp.Request, key string) {
	ss, _ := req.GetSession().(*mcp.ServerSession)
	if ss == nil {
		return
	}
	var user string
	if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
		user = extra.TokenInfo.UserID
	}
	g.registry.add(ss, user, key)
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
		end, ok := g.registry.begin(id, sessionKey(caller))
		if !ok {
			http.Error(w, "session not found: the token's identity (groups, claims) is not the one this session "+
				"was opened with; initialize a new session", http.StatusNotFound)
			return
		}
		defer end()
		next.ServeHTTP(w, r)
	})
}
