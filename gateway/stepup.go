package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
)

// peekCall builds the input of a call-phase request from its envelope, and
// its decision cache key, or returns nil.
func (g *Gateway) peekCall(e *envelope, id *authn.Identity) (*policy.Input, policy.CacheKey) {
	mk, ok := callParams[e.Method]
	if !ok {
		return nil, policy.CacheKey{}
	}
	params := mk()
	if json.Unmarshal(e.Params, params) != nil {
		return nil, policy.CacheKey{}
	}
	in, target, err := g.callInput(id, e.Method, params, g.catalog())
	if err != nil {
		return nil, policy.CacheKey{} // the MCP layer refuses it
	}
	return in, policy.CacheKey{Identity: id.PolicyKey, Target: target}
}

// CheckingAuthorizer is an Authorizer whose look ahead reads its decision
// cache (policy.Engine.CheckCached), without an input when the cache has
// the decision (CachedDecision).
type CheckingAuthorizer interface {
	CheckCached(ctx context.Context, key policy.CacheKey, in *policy.Input) policy.Decision
	CachedDecision(key policy.CacheKey, phase, method string) (policy.Decision, bool)
}

// cachedToolCall is the decision the cache holds for a tools/call of the
// envelope e by id, looked up with the tool's name alone: the arguments
// are neither decoded nor converted for a call the cache decides (most).
func (g *Gateway) cachedToolCall(e *envelope, id *authn.Identity) (policy.Decision, bool) {
	c, ok := g.opts.Authorizer.(CheckingAuthorizer)
	if !ok || e.Method != "tools/call" || id.PolicyKey == "" {
		return policy.Decision{}, false
	}
	var p struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(e.Params, &p) != nil {
		return policy.Decision{}, false
	}
	t := g.catalog().tool(p.Name)
	if t == nil {
		return policy.Decision{}, false
	}
	key := policy.CacheKey{Identity: id.PolicyKey, Target: callTarget(e.Method, t.up.cfg.Name, toolKey(t))}
	return c.CachedDecision(key, policy.PhaseCall, e.Method)
}

// lookAhead is the step-up look ahead of in: from the decision cache when
// the authorizer has one, else Check.
func (g *Gateway) lookAhead(ctx context.Context, key policy.CacheKey, in *policy.Input) policy.Decision {
	if c, ok := g.opts.Authorizer.(CheckingAuthorizer); ok {
		return c.CheckCached(ctx, key, in)
	}
	return g.opts.Authorizer.Check(ctx, in)
}

// missingScopes returns the scopes a decision requires that the token lacks.
func missingScopes(d policy.Decision, have []string) []string {
	var missing []string
	for _, s := range d.RequiredScopes {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// stepUpChallenge answers a request whose decision needs scopes the token
// does not carry with HTTP 403 insufficient_scope, before the SDK handles
// it, so clients can ask for the scopes and retry (RFC 6750 §3.1, MCP
// scope step-up). It looks at the request's envelope (read once at the
// edge). Requests it cannot read are left to the SDK. A request the fast
// path may serve is left to it: its decision of record answers the
// step-up (serveFast), and only if it hands the request to the SDK is the
// look ahead made (fastPath), so a call is evaluated once, not twice.
func (g *Gateway) stepUpChallenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := envelopeOf(r.Context()); e != nil && !g.opts.SDKForwarding && fastMethods[e.Method] {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stepUpDeferredKey{}, true)))
			return
		}
		if !g.lookAheadStepUp(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// stepUpDeferredKey marks a request whose step-up look ahead waits for the
// fast path.
type stepUpDeferredKey struct{}

func stepUpDeferred(r *http.Request) bool { return r.Context().Value(stepUpDeferredKey{}) != nil }

// lookAheadStepUp makes the step-up look ahead of r and answers the
// challenge when its decision needs scopes the token lacks (true: r is
// answered).
func (g *Gateway) lookAheadStepUp(w http.ResponseWriter, r *http.Request) bool {
	id, ok := authn.FromContext(r.Context())
	e := envelopeOf(r.Context())
	if e == nil || !ok || g.opts.ScopeChallenge == nil {
		return false
	}
	if d, ok := g.cachedToolCall(e, id); ok && (d.Allow || len(missingScopes(d, id.Scopes)) == 0) {
		return false // nothing to step up to
	}
	in, key := g.peekCall(e, id)
	if in == nil {
		return false
	}
	// A look ahead: the MCP layer decides (and logs) the request again
	// with what only the session knows. A step-up answer is the decision
	// of record, so it is decided again and logged.
	d := g.lookAhead(r.Context(), key, in)
	if missing := missingScopes(d, id.Scopes); d.Allow || len(missing) == 0 {
		return false
	}
	return g.scopeChallenge(w, r, g.opts.Authorizer.Decide(r.Context(), in))
}

// scopeChallenge answers r with the step-up challenge when d, a decision of
// record, denies for scopes the token lacks (true: r is answered).
func (g *Gateway) scopeChallenge(w http.ResponseWriter, r *http.Request, d policy.Decision) bool {
	id, ok := authn.FromContext(r.Context())
	if !ok || g.opts.ScopeChallenge == nil || d.Allow {
		return false
	}
	missing := missingScopes(d, id.Scopes)
	if len(missing) == 0 {
		return false
	}
	e := envelopeOf(r.Context())
	method := ""
	if e != nil {
		method = e.Method
	}
	g.opts.ScopeChallenge(w, d.RequiredScopes, fmt.Sprintf("%s needs scope %s", method, strings.Join(missing, " ")))
	return true
}
