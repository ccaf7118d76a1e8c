package policy

import (
	"slices"
	"sync"
	"time"
)

// Recent keeps the latest decisions in memory, for the console's
// Decisions page: a ring of a fixed size, the oldest overwritten. It holds
// what a decision-log line says about a decision, never its input (the
// arguments stay in the decision log, masked). Safe for concurrent use.
type Recent struct {
	mu    sync.Mutex
	ring  []RecentDecision
	next  int    // where the next decision goes
	total uint64 // decisions added since start
}

// RecentDecision is one decision of Recent.
type RecentDecision struct {
	Time       time.Time
	DecisionID string
	TraceID    string
	UserSub    string
	Phase      string
	Method     string
	Target     string
	Server     string
	Allow      bool
	Reasons    []string
	Granted    []string
	Revision   string
	Cached     bool
	Error      string
}

// NewRecent returns a Recent that keeps size decisions; size must be at
// least 1.
func NewRecent(size int) *Recent {
	return &Recent{ring: make([]RecentDecision, 0, max(size, 1))}
}

// Size is how many decisions r keeps.
func (r *Recent) Size() int { return cap(r.ring) }

// add keeps d, overwriting the oldest when r is full.
func (r *Recent) add(d RecentDecision) {
	r.mu.Lock()
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, d)
	} else {
		r.ring[r.next] = d
	}
	r.next = (r.next + 1) % cap(r.ring)
	r.total++
	r.mu.Unlock()
}

// Snapshot returns the decisions kept, newest first, and how many were
// added since start (more than returned once the ring has wrapped).
func (r *Recent) Snapshot() (newestFirst []RecentDecision, total uint64) {
	r.mu.Lock()
	out := make([]RecentDecision, 0, len(r.ring))
	if len(r.ring) == cap(r.ring) {
		out = append(out, r.ring[r.next:]...)
	}
	out = append(out, r.ring[:r.next]...)
	total = r.total
	r.mu.Unlock()
	slices.Reverse(out)
	return out, total
}

// Bounds of what Recent keeps of a decision: a kept decision costs at
// most about 4 KiB, whatever its reasons (a client registering names its
// own redirect hosts, which reasons may quote).
const (
	recentMaxReasons = 4
	recentMaxString  = 256
)

// recentOf is what Recent keeps of a decision's record.
func recentOf(r *record) RecentDecision {
	return RecentDecision{Time: r.time, DecisionID: r.decisionID, TraceID: cut(r.traceID), UserSub: cut(r.userSub),
		Phase: cut(r.phase), Method: cut(r.method), Target: cut(r.target), Server: cut(r.server), Allow: r.allow,
		Reasons: cutAll(r.reasons), Granted: cutAll(r.granted), Revision: cut(r.revision), Cached: r.cached, Error: cut(r.err)}
}

// cut bounds s as the decision log does, to recentMaxString bytes.
func cut(s string) string {
	s, _ = truncateTo(s, recentMaxString)
	return s
}

// cutAll bounds a list as the decision log does, to recentMaxReasons
// strings of recentMaxString bytes; one within the bounds is shared (the
// record's lists are its own, and never changed).
func cutAll(ss []string) []string {
	if len(ss) <= recentMaxReasons && !slices.ContainsFunc(ss, func(s string) bool { return len(s) > recentMaxString }) {
		return ss
	}
	return boundStringsTo(ss, recentMaxReasons, recentMaxString)
}

// Recent returns the engine's Options.Recent (nil without one).
func (e *Engine) Recent() *Recent { return e.opts.Recent }
