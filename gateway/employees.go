package gateway

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults of the per-employee upstream sessions.
const (
	DefaultEmployeeSessions    = 100
	DefaultEmployeeSessionIdle = 5 * time.Minute
)

// employeeSessions are the upstream MCP sessions of one upstream whose
// credentials name the employee (auth kinds identity_assertion and
// token_exchange): sessions follow credentials, so each employee calls over
// a session of their own, opened with their own credentials, never over
// another's. There are at most max of them: opening one more closes the
// least recently used that no call is using. One idle for longer than idle
// is closed.
type employeeSessions struct {
	u    *upstream
	max  int
	idle time.Duration

	mu    sync.Mutex
	ctx   context.Context // the gateway's run context; nil until run
	byKey map[string]*employeeSession
	lru   *list.List // of *employeeSession, most recently used first
}

// employeeSession is one employee's session, or the attempt to open it.
type employeeSession struct {
	key      string
	elem     *list.Element
	ready    chan struct{} // closed when cs or err is set
	cs       *mcp.ClientSession
	err      error
	inflight int
	lastUsed time.Time
}

func newEmployeeSessions(u *upstream, max int, idle time.Duration) *employeeSessions {
	return &employeeSessions{u: u, max: max, idle: idle, byKey: map[string]*employeeSession{}, lru: list.New()}
}

// employeeKey identifies an employee: a subject is unique per issuer.
func employeeKey(id *authn.Identity) string { return id.Issuer + "\x00" + id.Subject }

// acquire returns id's session, opening it on first use, and the function
// to call when the call is done with it.
func (e *employeeSessions) acquire(ctx context.Context, id *authn.Identity) (*mcp.ClientSession, func(), error) {
	e.mu.Lock()
	if e.ctx == nil || e.ctx.Err() != nil {
		e.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: server %q is not running", errUnavailable, e.u.cfg.Name)
	}
	s, ok := e.byKey[employeeKey(id)]
	if !ok {
		s = &employeeSession{key: employeeKey(id), ready: make(chan struct{})}
		s.elem = e.lru.PushFront(s)
		e.byKey[s.key] = s
	}
	s.inflight++
	s.lastUsed = time.Now()
	e.lru.MoveToFront(s.elem)
	evicted := e.evictLocked()
	runCtx := e.ctx
	e.mu.Unlock()
	closeAll(evicted)
	release := func() { e.release(s) }
	if !ok {
		e.open(runCtx, s, e.u.credentialFor(ctx, id))
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		release()
		return nil, nil, ctx.Err()
	}
	if s.err != nil {
		release()
		return nil, nil, s.err
	}
	return s.cs, release, nil
}

// open connects s with token and forgets it when the session ends.
func (e *employeeSessions) open(ctx context.Context, s *employeeSession, token tokenSource) {
	cs, cancel, err := e.u.connectAs(ctx, token)
	e.mu.Lock()
	s.cs, s.err = cs, err
	if err != nil {
		e.removeLocked(s)
	}
	e.mu.Unlock()
	close(s.ready)
	if err == nil {
		e.u.log.Debug("upstream session opened for an employee", "sessions", e.count())
		go func() {
			_ = cs.Wait()
			cancel()
			e.mu.Lock()
			e.removeLocked(s)
			e.mu.Unlock()
		}()
	}
}

func (e *employeeSessions) release(s *employeeSession) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s.inflight--
	s.lastUsed = time.Now()
}

// discard closes cs, id's session that failed, so that the next call opens
// a new one.
func (e *employeeSessions) discard(id *authn.Identity, cs *mcp.ClientSession) {
	e.mu.Lock()
	s := e.byKey[employeeKey(id)]
	drop := s != nil && s.cs == cs
	if drop {
		e.removeLocked(s)
	}
	e.mu.Unlock()
	if drop {
		_ = cs.Close()
	}
}

// evictLocked takes out the least recently used sessions that no call uses
// until at most max remain, and returns them to be closed. Sessions in use
// are never closed: while every session is in use the bound is exceeded.
func (e *employeeSessions) evictLocked() []*mcp.ClientSession {
	var out []*mcp.ClientSession
	for el := e.lru.Back(); el != nil && len(e.byKey) > e.max; {
		s, prev := el.Value.(*employeeSession), el.Prev()
		if s.inflight == 0 && s.cs != nil {
			e.removeLocked(s)
			out = append(out, s.cs)
		}
		el = prev
	}
	return out
}

// removeLocked forgets s, if it is still the employee's session.
func (e *employeeSessions) removeLocked(s *employeeSession) {
	if e.byKey[s.key] != s {
		return
	}
	delete(e.byKey, s.key)
	e.lru.Remove(s.elem)
}

// start opens e for sessions under ctx. Gateway.Start calls it before
// it returns, not in run's goroutine: a call that came before that
// goroutine was scheduled was refused as "not running" (seen under CI
// load).
func (e *employeeSessions) start(ctx context.Context) {
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
}

// run closes idle sessions until ctx ends, then closes them all. start
// must have been called with ctx.
func (e *employeeSessions) run(ctx context.Context) {
	tick := time.NewTicker(max(e.idle/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			e.mu.Lock()
			all := e.takeLocked(func(*employeeSession) bool { return true })
			e.mu.Unlock()
			closeAll(all)
			return
		case <-tick.C:
			cutoff := time.Now().Add(-e.idle)
			e.mu.Lock()
			idle := e.takeLocked(func(s *employeeSession) bool { return s.inflight == 0 && s.lastUsed.Before(cutoff) })
			e.mu.Unlock()
			closeAll(idle)
		}
	}
}

// takeLocked removes the open sessions that match and returns them.
func (e *employeeSessions) takeLocked(match func(*employeeSession) bool) []*mcp.ClientSession {
	var out []*mcp.ClientSession
	for el := e.lru.Front(); el != nil; {
		s, next := el.Value.(*employeeSession), el.Next()
		if s.cs != nil && match(s) {
			e.removeLocked(s)
			out = append(out, s.cs)
		}
		el = next
	}
	return out
}

func (e *employeeSessions) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.byKey)
}

func closeAll(sessions []*mcp.ClientSession) {
	for _, cs := range sessions {
		_ = cs.Close()
	}
}
