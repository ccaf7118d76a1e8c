package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/telemetry"
)

// connLimiter holds at most max client connections. At the limit, a new
// connection makes room by closing the connection idle longest (a
// keep-alive connection with no request in flight); when none is idle, the
// new connection is answered 503 and closed, so a flood of connections
// cannot exhaust the process's file descriptors and starve health probes.
// Its ConnState method must be the http.Server's ConnState hook: that is
// how it learns which connections are idle.
type connLimiter struct {
	net.Listener
	max int

	mu   sync.Mutex
	open int
	idle map[net.Conn]time.Time // idle since
	// onEvict and onReject, if set, are told of a connection closed to
	// make room and of one refused.
	onEvict, onReject func()
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, idle: map[net.Conn]time.Time{}}
}

// tooManyConnections is the whole answer to a connection over the limit.
var tooManyConnections = func() string {
	body := "mcpgate: too many connections (limits.max_connections); retry\n"
	return fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.admit() {
			return &limitedConn{Conn: c, l: l}, nil
		}
		if l.onReject != nil {
			l.onReject()
		}
		go refuse(c)
	}
}

// admit makes room for one more connection if it can.
func (l *connLimiter) admit() bool {
	l.mu.Lock()
	if l.open < l.max {
		l.open++
		l.mu.Unlock()
		return true
	}
	var victim net.Conn
	var since time.Time
	for c, t := range l.idle {
		if victim == nil || t.Before(since) {
			victim, since = c, t
		}
	}
	if victim == nil {
		l.mu.Unlock()
		return false
	}
	delete(l.idle, victim)
	l.open++ // the victim's slot, released when it closes
	l.mu.Unlock()
	if l.onEvict != nil {
		l.onEvict()
	}
	victim.Close()
	return true
}

func refuse(c net.Conn) {
	c.SetDeadline(time.Now().Add(100 * time.Millisecond))
	io.WriteString(c, tooManyConnections)
	c.Close()
}

// ConnState tracks which connections are idle: between requests, or new
// and not yet sending one.
func (l *connLimiter) ConnState(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if state == http.StateIdle || state == http.StateNew {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
}

// closeIdle closes every connection without a request in flight. Shutdown
// calls it: http.Server.Shutdown closes idle connections but waits up to 5s
// for one that was accepted and has not sent a request yet (a client's
// spare connection), which would eat a short shutdown grace.
func (l *connLimiter) closeIdle() {
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.idle))
	for c := range l.idle {
		conns = append(conns, c)
	}
	clear(l.idle)
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (l *connLimiter) release(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	delete(l.idle, c)
}

// limitedConn gives its slot back when it closes.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// LimitConnections holds another listener of the gateway's process (the
// console's) to limits.max_connections as the gateway's own is held: at
// the limit a new connection closes the one idle longest, or is answered
// 503; both are counted. Set the http.Server's ConnState to the returned
// hook: that is how the limit learns which connections are idle.
func (g *Gateway) LimitConnections(ln net.Listener) (net.Listener, func(net.Conn, http.ConnState)) {
	l := newConnLimiter(ln, g.cfg.Limits.MaxConnections)
	l.onEvict = func() {
		g.opts.Metrics.RecordLimit(context.Background(), telemetry.LimitMaxConnections, telemetry.LimitActionEvicted)
	}
	l.onReject = func() {
		g.opts.Metrics.RecordLimit(context.Background(), telemetry.LimitMaxConnections, telemetry.LimitActionRefused)
	}
	return l, l.ConnState
}
