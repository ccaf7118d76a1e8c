package gateway

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// admit is the initialize phase: may this caller use the gateway at all?
// A session of the 2025 revisions is decided at its initialize (also when
// another replica takes a sealed session over, as that runs initialize
// again); a policy change applies to sessions opened after it. A
// 2026-07-28 request has no initialize, so each request is admitted by the
// decision for its caller, client, address and policy revision, made once
// and reused for up to gateCacheTTL (logged once, like list decisions).
func (v *view) admit(ctx context.Context, method string, req mcp.Request) error {
	if method == "initialize" {
		return v.decideInitialize(ctx, req)
	}
	if method == "ping" || strings.HasPrefix(method, "notifications/") {
		return nil
	}
	if ss, _ := req.GetSession().(*mcp.ServerSession); ss != nil {
		if p := ss.InitializeParams(); p != nil && p.ProtocolVersion < statelessVersion {
			return nil // decided at this session's initialize
		}
	}
	// A view shared among callers (sharedViewKey) keeps the allows per
	// caller; only such a view needs the caller's keys here.
	if v.sharedRevision != "" {
		gate := v.g.keys.of(identityOf(req)).gate
		if gate == nil { // no caller of a shared view lacks one; decided afresh if so
			gate = &sessionGate{}
		}
		return gate.admit(ctx, v, req)
	}
	return v.sessionGate.admit(ctx, v, req)
}

func (v *view) decideInitialize(ctx context.Context, req mcp.Request) error {
	id := identityOf(req)
	if id == nil {
		return deniedError(policy.Decision{Reasons: []string{"no verified identity"}})
	}
	in := v.g.baseInput(id, policy.PhaseInitialize, "initialize")
	fillRequest(in, req)
	if p, ok := req.GetParams().(*mcp.InitializeParams); ok && p != nil {
		in.Request.ProtocolVersion = p.ProtocolVersion
		if p.ClientInfo != nil {
			in.Client = &policy.Client{Name: p.ClientInfo.Name, Version: p.ClientInfo.Version}
		}
	}
	if d := v.g.decideObserved(ctx, in); !d.Allow {
		return deniedError(d)
	}
	v.g.bindSession(req, v)
	return nil
}

// sessionGate caches the initialize-phase allows of one view's 2026-07-28
// requests by (policy revision, client name, client version, client
// address), each for gateCacheTTL, so that a rule on input.request.time
// takes effect within that time. Denials are not cached: one may come from
// a passing failure (a timeout), and a denied caller costs a decision per
// request only while it is denied.
type sessionGate struct {
	mu       sync.Mutex
	revision string
	allowed  map[gateKey]time.Time // → when the allow expires
}

type gateKey struct{ client, version, addr, protocol string }

const (
	// maxGateEntries bounds the cached decisions per view (client names,
	// versions and addresses are the caller's to choose).
	maxGateEntries = 64
	// gateCacheTTL bounds how long an initialize allow is reused.
	gateCacheTTL = time.Minute
)

func (sg *sessionGate) admit(ctx context.Context, v *view, req mcp.Request) error {
	id := identityOf(req)
	if id == nil {
		return deniedError(policy.Decision{Reasons: []string{"no verified identity"}})
	}
	in := v.g.baseInput(id, policy.PhaseInitialize, "initialize")
	fillRequest(in, req)
	key := gateKey{addr: in.Request.RemoteAddr, protocol: in.Request.ProtocolVersion}
	if in.Client != nil {
		key.client, key.version = in.Client.Name, in.Client.Version
	}
	rev := v.g.policyRevision()
	sg.mu.Lock()
	if sg.revision != rev || len(sg.allowed) >= maxGateEntries {
		sg.revision, sg.allowed = rev, map[gateKey]time.Time{}
	}
	until, ok := sg.allowed[key]
	sg.mu.Unlock()
	if ok && in.Request.Time.Before(until) {
		return nil
	}
	d := v.g.decideObserved(ctx, in)
	if !d.Allow {
		return deniedError(d)
	}
	sg.mu.Lock()
	if sg.revision == rev && d.Revision == rev {
		sg.allowed[key] = in.Request.Time.Add(gateCacheTTL)
	}
	sg.mu.Unlock()
	return nil
}
