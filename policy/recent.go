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

// recentOf is what Recent keeps of a decision's record.
func recentOf(r *record) RecentDecision {
	return RecentDecision{Time: r.time, DecisionID: r.decisionID, TraceID: r.traceID, UserSub: r.userSub,
		Phase: r.phase, Method: r.method, Target: r.target, Server: r.server, Allow: r.allow,
		Reasons: r.reasons, Granted: r.granted, Revision: r.revision, Cached: r.cached, Error: r.err}
}

// Recent returns the engine's Options.Recent (nil without one).
func (e *Engine) Recent() *Recent { return e.opts.Recent }
