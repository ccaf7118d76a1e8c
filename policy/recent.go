package policy

import (
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
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

// cut bounds s to recentMaxString bytes, at a rune boundary, marking the
// cut with "…".
func cut(s string) string {
	if len(s) <= recentMaxString {
		return s
	}
	i := recentMaxString
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// cutAll keeps the first recentMaxReasons of ss, each cut, and says how
// many it left out.
func cutAll(ss []string) []string {
	if len(ss) <= recentMaxReasons && !slices.ContainsFunc(ss, func(s string) bool { return len(s) > recentMaxString }) {
		return ss // within bounds: shared, as the record's are never changed
	}
	out := make([]string, 0, min(len(ss), recentMaxReasons+1))
	for i, s := range ss {
		if i == recentMaxReasons {
			out = append(out, fmt.Sprintf("… and %d more (in the decision log)", len(ss)-i))
			break
		}
		out = append(out, cut(s))
	}
	return out
}

// Recent returns the engine's Options.Recent (nil without one).
func (e *Engine) Recent() *Recent { return e.opts.Recent }
