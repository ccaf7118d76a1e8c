package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
)

// UpstreamScoper decides which scopes of an upstream's scope catalogue
// (servers[].auth.scopes) the gateway asks that upstream's authorization
// server for: policy.Engine implements it (data.mcpgate.authz.
// upstream_scopes), and so does AllowAll (every scope). An Authorizer that
// does not cannot serve a server with an upstream scope catalogue: New
// refuses it (ErrNoUpstreamScoper), so no scope is ever asked undecided.
type UpstreamScoper interface {
	UpstreamScopes(ctx context.Context, in *policy.Input) policy.GrantDecision
}

// ErrNoUpstreamScoper is returned by New when a server has an upstream
// scope catalogue and Options.Authorizer does not decide upstream scopes.
var ErrNoUpstreamScoper = errors.New("gateway: a server has an upstream scope catalogue (servers[].auth.scopes): " +
	"Options.Authorizer must decide upstream scopes (implement gateway.UpstreamScoper)")

// upstreamScopesKey holds, in a request's context, the upstream scopes
// decided for that request (a non-nil slice, possibly empty).
type upstreamScopesKey struct{}

// withUpstreamScopes returns ctx carrying scopes, the upstream scopes
// decided for its request.
func withUpstreamScopes(ctx context.Context, scopes []string) context.Context {
	if scopes == nil {
		scopes = []string{}
	}
	return context.WithValue(ctx, upstreamScopesKey{}, scopes)
}

// decidedScopes returns the upstream scopes decided for the request in
// ctx; nil when none was (the gateway's own requests).
func decidedScopes(ctx context.Context) []string {
	s, _ := ctx.Value(upstreamScopesKey{}).([]string)
	return s
}

// scopesFor returns the scopes a token asked for a request in ctx carries:
// those policy decided for the request, or, for the gateway's own requests
// (opening the pooled session, listing, subscriptions), which nobody asked
// for and which only read, the read-level scopes of the catalogue. Nil
// when the catalogue is empty: no scope parameter is sent.
func scopesFor(ctx context.Context, auth *config.UpstreamAuth) []string {
	if len(auth.Scopes) == 0 {
		return nil
	}
	if s := decidedScopes(ctx); s != nil {
		return s
	}
	var out []string
	for i := range auth.Scopes {
		if auth.Scopes[i].EffectiveLevel() == config.ScopeLevelRead {
			out = append(out, auth.Scopes[i].Name)
		}
	}
	return out
}

// scopesTaken reports whether an upstream's credential kind asks scopes
// that policy decides.
func scopesTaken(cfg config.Server) bool {
	if cfg.Auth == nil || len(cfg.Auth.Scopes) == 0 {
		return false
	}
	switch cfg.Auth.Kind {
	case config.AuthClientCredentials, config.AuthTokenExchange, config.AuthOAuth:
		return true
	}
	return false
}

// decideUpstreamScopes decides, for a request by id in ctx to upstream u,
// the scopes asked of u's authorization server, and returns ctx carrying
// them. The input is the request's call-phase input (its target), in phase
// upstream with the catalogue; the decision goes to the decision log. The
// answer is the intersection of what policy granted with the catalogue, in
// catalogue order. A decision that fails, or grants nothing, refuses the
// request: the upstream is never asked for a scope policy did not grant.
func (g *Gateway) decideUpstreamScopes(ctx context.Context, u *upstream, id *authn.Identity) (context.Context, error) {
	var call *policy.Input
	if d, ok := ctx.Value(decidedKey{}).(decidedTarget); ok && d.server == u.cfg.Name {
		call = d.in
	}
	return g.decideScopes(ctx, u, id, call)
}

// decideScopes decides u's upstream scopes for id: for one call (call, the
// input it was decided with), or, when call is nil, on the connect page
// for every call to come.
func (g *Gateway) decideScopes(ctx context.Context, u *upstream, id *authn.Identity, call *policy.Input) (context.Context, error) {
	if !scopesTaken(u.cfg) || id == nil {
		return ctx, nil
	}
	in := g.upstreamInput(u, id, call)
	sctx, span := g.tracer.Start(ctx, "mcpgate.policy "+policy.PhaseUpstream)
	start := time.Now()
	d := g.scoper.UpstreamScopes(sctx, in)
	g.opts.Metrics.RecordPolicyDecision(sctx, policy.PhaseUpstream, len(d.Scopes) > 0, time.Since(start))
	span.End()
	if d.Err != nil {
		return ctx, deniedError(policy.Decision{Reasons: d.Reasons, ID: d.ID, Revision: d.Revision})
	}
	granted := make([]string, 0, len(d.Scopes))
	for _, s := range u.cfg.Auth.Scopes {
		if slices.Contains(d.Scopes, s.Name) {
			granted = append(granted, s.Name)
		}
	}
	if len(granted) == 0 {
		reasons := append([]string{fmt.Sprintf("policy grants no scope of server %q's upstream catalogue for this request", u.cfg.Name)}, d.Reasons...)
		return ctx, deniedError(policy.Decision{Reasons: reasons, ID: d.ID, Revision: d.Revision})
	}
	return withUpstreamScopes(ctx, granted), nil
}

// upstreamInput is the upstream-phase input of a request to u by id: the
// call-phase input call the request was decided with (its target, without
// its arguments), or, when call is nil, the server alone.
func (g *Gateway) upstreamInput(u *upstream, id *authn.Identity, call *policy.Input) *policy.Input {
	var in policy.Input
	if call != nil {
		in = *call
		in.Arguments = nil
		in.Catalogue = nil
		in.Method = policy.MethodUpstreamToken
	} else {
		in = *g.baseInput(id, policy.PhaseUpstream, policy.MethodUpstreamConnect)
		in.Server = g.serverInput(u)
	}
	in.Phase = policy.PhaseUpstream
	in.UpstreamScopes = make([]policy.UpstreamScope, len(u.cfg.Auth.Scopes))
	for i, s := range u.cfg.Auth.Scopes {
		in.UpstreamScopes[i] = policy.UpstreamScope{Name: s.Name, Description: s.Description, Level: s.EffectiveLevel()}
	}
	return &in
}
