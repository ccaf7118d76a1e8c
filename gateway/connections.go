package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/connections"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// ErrNoConnections is returned by New when a server has auth kind oauth
// and Options.Connections is nil: employees' upstream tokens need the
// connect flow and the vault.
var ErrNoConnections = errors.New("gateway: a server uses auth kind oauth: Options.Connections is required")

// useConnections authenticates u with each employee's own OAuth token
// (auth kind oauth), kept by Options.Connections: each employee calls over
// a session of their own. The pooled session, which lists the catalog,
// sends no token: such an upstream must let anyone initialize and list.
func (g *Gateway) useConnections(u *upstream) {
	m := g.opts.Connections
	u.credentialFor = func(_ context.Context, id *authn.Identity) tokenSource {
		return &connectedToken{m: m, server: u.cfg.Name, id: id}
	}
	u.employees = newEmployeeSessions(u, g.opts.employeeSessions(), g.opts.employeeSessionIdle())
}

// connectedToken is an employee's token for one upstream of auth kind
// oauth: the scopes decided for the request in the context must be among
// those the employee granted.
type connectedToken struct {
	m      *connections.Manager
	server string
	id     *authn.Identity
}

// Token returns the employee's token. A request's decided scopes must be
// among those the employee granted; the session's own requests (opening
// it, its notifications) take the token as it is.
func (c *connectedToken) Token(ctx context.Context) (string, error) {
	if p, ok := ctx.Value(prefetchedKey{}).(*prefetched); ok {
		if t := p.take(c.server, employeeKey(c.id)); t != "" {
			return t, nil
		}
	}
	return c.m.Token(ctx, c.server, c.id, decidedScopes(ctx))
}

func (c *connectedToken) Invalidate(token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.m.Invalidate(ctx, c.server, c.id, token)
}

// requireConnected answers a request of id's to u, an upstream of auth
// kind oauth, that id has not connected (with the scopes policy decided
// for it): with the URL elicitation error (-32042) of the 2025-11-25
// revision, whose URL is a single-use connect link for id, u and this
// request. The session ss is told when the connection completes
// (notifications/elicitation/complete); the client then retries.
//
// The token it looked up is kept in the returned context for the call's
// first upstream request (connectedToken.Token): one vault read per call,
// not two.
func (g *Gateway) requireConnected(ctx context.Context, ss *mcp.ServerSession, u *upstream, id *authn.Identity) (context.Context, error) {
	if u.cfg.Auth == nil || u.cfg.Auth.Kind != config.AuthOAuth || id == nil {
		return ctx, nil
	}
	token, err := g.opts.Connections.Token(ctx, u.cfg.Name, id, decidedScopes(ctx))
	if err == nil {
		return context.WithValue(ctx, prefetchedKey{}, &prefetched{server: u.cfg.Name, employee: employeeKey(id), token: token}), nil
	}
	var nc *connections.NotConnectedError
	if !errors.As(err, &nc) {
		return ctx, err // a failure the call reports as the upstream's
	}
	return ctx, g.elicitConnection(ctx, ss, u, id, nc.Scopes, nc.Reason)
}

// prefetchedKey holds, in a call's context, the *prefetched token
// requireConnected looked up.
type prefetchedKey struct{}

// prefetched is an employee's token for one upstream, looked up for one
// call and handed out once: a second request of the call (the retry after
// a 401, whose token was invalidated) asks the vault again.
type prefetched struct {
	mu               sync.Mutex
	server, employee string
	token            string
}

func (p *prefetched) take(server, employee string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.server != server || p.employee != employee {
		return ""
	}
	t := p.token
	p.token = ""
	return t
}

// elicitConnection is the URL elicitation error (-32042) asking id to
// connect u with at least scopes, for reason; ss is told when it is done.
func (g *Gateway) elicitConnection(ctx context.Context, ss *mcp.ServerSession, u *upstream, id *authn.Identity, scopes []string, reason string) error {
	elicitation := newElicitationID()
	link, err := g.opts.Connections.ConnectURL(ctx, u.cfg.Name, id, scopes, elicitation)
	if err != nil {
		return fmt.Errorf("%w: server %q: %v", errUnavailable, u.cfg.Name, err)
	}
	if ss != nil && ss.InitializeParams() != nil && ss.InitializeParams().ProtocolVersion < statelessVersion {
		// A 2025 session can be told when the connection is done; a
		// 2026-07-28 request has no session to tell: its client retries.
		g.elicitations.add(elicitation, id, u.cfg.Name, ss)
	}
	return mcp.URLElicitationRequiredError([]*mcp.ElicitParams{{
		Mode: "url", ElicitationID: elicitation, URL: link,
		Message: fmt.Sprintf("%s needs your authorization (%s). Open %s in a browser signed in to the gateway, then retry.",
			u.cfg.Name, reason, link),
	}})
}

// ElicitationComplete tells the session that got elicitationID, if it is
// still open and its employee is id, that the connection to upstream is
// done: notifications/elicitation/complete. connections.Options.Connected
// calls it. A session on another replica is not told; its client's retry
// succeeds all the same.
func (g *Gateway) ElicitationComplete(id *authn.Identity, upstream, elicitationID string) {
	ss, ok := g.elicitations.take(elicitationID, id, upstream)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ss.NotifyElicitationComplete(ctx, &mcp.ElicitationCompleteParams{ElicitationID: elicitationID}); err != nil {
		g.log.Debug("elicitation complete: the client's session did not take the notification", "upstream", upstream, "err", err)
	}
}

// ConnectScopes decides which scopes id's browser asks upstream's
// authorization server for on the connect page: policy, phase upstream,
// method upstream/connect (no target), within the catalogue. An upstream
// without a catalogue is asked no scope. connections.Options.Scopes calls it.
func (g *Gateway) ConnectScopes(ctx context.Context, upstream string, id *authn.Identity) ([]string, error) {
	u := g.upstreamByName(upstream)
	if u == nil {
		return nil, fmt.Errorf("no server %q", upstream)
	}
	if !scopesTaken(u.cfg) {
		return nil, nil
	}
	// The connect page's decision, for every call to come: no target,
	// even when a call asks (a step-up on 403 insufficient_scope).
	ctx, err := g.decideScopes(ctx, u, id, nil)
	if err != nil {
		return nil, err
	}
	return decidedScopes(ctx), nil
}

func (g *Gateway) upstreamByName(name string) *upstream {
	for _, u := range g.ups {
		if u.cfg.Name == name {
			return u
		}
	}
	return nil
}

func newElicitationID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxPendingElicitations bounds the elicitations remembered for
// notifications; the oldest is forgotten first (its client still retries).
const maxPendingElicitations = 10000

// elicitations remember which session each pending URL elicitation went
// to, for notifications/elicitation/complete.
type elicitations struct {
	mu    sync.Mutex
	byID  map[string]pendingElicitation
	order []string
}

type pendingElicitation struct {
	employee, upstream string
	ss                 *mcp.ServerSession
	at                 time.Time
}

func (e *elicitations) add(id string, who *authn.Identity, upstream string, ss *mcp.ServerSession) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.byID == nil {
		e.byID = map[string]pendingElicitation{}
	}
	for len(e.order) >= maxPendingElicitations || (len(e.order) > 0 && time.Since(e.byID[e.order[0]].at) > connections.DefaultTicketTTL) {
		delete(e.byID, e.order[0])
		e.order = e.order[1:]
	}
	e.byID[id] = pendingElicitation{employee: employeeKey(who), upstream: upstream, ss: ss, at: time.Now()}
	e.order = append(e.order, id)
}

// take returns the session of elicitation id if it was for who and
// upstream, once.
func (e *elicitations) take(id string, who *authn.Identity, upstream string) (*mcp.ServerSession, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.byID[id]
	if !ok || who == nil || p.employee != employeeKey(who) || p.upstream != upstream || p.ss == nil {
		return nil, false
	}
	delete(e.byID, id)
	return p.ss, true
}

// scopeHintKey holds, in the context of a request to an upstream of auth
// kind oauth, the *scopeHint its transport fills in.
type scopeHintKey struct{}

// scopeHint is what an upstream answered 403 insufficient_scope with: the
// scopes its challenge asks for (RFC 6750 §3.1).
type scopeHint struct {
	mu     sync.Mutex
	scopes []string
}

func withScopeHint(ctx context.Context) (context.Context, *scopeHint) {
	h := &scopeHint{}
	return context.WithValue(ctx, scopeHintKey{}, h), h
}

func (h *scopeHint) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.scopes
}

// maxChallengeScopes bounds the scopes read from one challenge.
const maxChallengeScopes = 32

// noteInsufficientScope records, for a request whose context has a scope
// hint, the scopes of a Bearer insufficient_scope challenge in header.
func noteInsufficientScope(ctx context.Context, header http.Header) {
	h, ok := ctx.Value(scopeHintKey{}).(*scopeHint)
	if !ok {
		return
	}
	challenges, err := oauthex.ParseWWWAuthenticate(header.Values("WWW-Authenticate"))
	if err != nil {
		return
	}
	for _, c := range challenges {
		if !strings.EqualFold(c.Scheme, "bearer") || c.Params["error"] != "insufficient_scope" {
			continue
		}
		scopes := strings.Fields(c.Params["scope"])
		if len(scopes) > maxChallengeScopes {
			scopes = scopes[:maxChallengeScopes]
		}
		h.mu.Lock()
		h.scopes = scopes
		h.mu.Unlock()
		return
	}
}

// stepUp answers a call that upstream u refused with 403
// insufficient_scope, naming scopes, for id. Scopes outside u's catalogue
// are never asked. When id's connection lacks some that policy lets id
// connect with, the answer is a new URL elicitation (connect again, with
// them); otherwise the upstream's refusal stands, with the reason. A
// connection that already has every scope asked is never asked again: no
// loop with an upstream that keeps refusing.
func (g *Gateway) stepUp(ctx context.Context, ss *mcp.ServerSession, u *upstream, id *authn.Identity, asked []string, refused error) error {
	var wanted []string
	for _, s := range u.cfg.Auth.Scopes {
		if slices.Contains(asked, s.Name) {
			wanted = append(wanted, s.Name)
		}
	}
	if len(wanted) == 0 {
		return refused
	}
	conns, err := g.opts.Connections.Connections(ctx, id)
	if err != nil {
		return refused
	}
	var have []string
	for _, c := range conns {
		if c.Upstream == u.cfg.Name {
			have = c.Scopes
		}
	}
	missing := slices.DeleteFunc(slices.Clone(wanted), func(s string) bool { return slices.Contains(have, s) })
	if len(missing) == 0 {
		return refused
	}
	allowed, err := g.ConnectScopes(ctx, u.cfg.Name, id)
	if err != nil {
		return err
	}
	for _, s := range missing {
		if !slices.Contains(allowed, s) {
			return deniedError(policy.Decision{Reasons: []string{fmt.Sprintf(
				"server %q needs upstream scope %s for this call, which policy does not let you grant it", u.cfg.Name, s)}})
		}
	}
	return g.elicitConnection(ctx, ss, u, id, append(slices.Clone(have), missing...),
		"this call needs more access than you granted: "+strings.Join(missing, " "))
}
