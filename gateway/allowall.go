package gateway

import (
	"context"
	"errors"

	"github.com/mcpgate/mcpgate/policy"
)

// ErrNoAuthorizer is returned by New when Options.Authorizer is nil: the
// gateway fails closed by construction, so there is no configuration in
// which a request goes undecided.
var ErrNoAuthorizer = errors.New("gateway: no Authorizer: every request must be decided; " +
	"pass the policy engine, or gateway.AllowAll{} for a deliberately open gateway")

// AllowAll is an Authorizer that allows every caller everything, with no
// policy. It exists for tests and for a deliberately open local setup, and
// says so in every decision it makes; `mcpgate serve` never uses it.
type AllowAll struct{}

// allowAllReason is the reason of each AllowAll decision.
const allowAllReason = "allow-all authorizer: no policy is loaded"

// Decide allows.
func (AllowAll) Decide(context.Context, *policy.Input) policy.Decision {
	return policy.Decision{Allow: true, Reasons: []string{allowAllReason}, Revision: "allow-all"}
}

// Check allows.
func (a AllowAll) Check(ctx context.Context, in *policy.Input) policy.Decision {
	return a.Decide(ctx, in)
}

// Revision is constant: an allow-all policy never changes.
func (AllowAll) Revision() string { return "allow-all" }

// UpstreamScopes grants every scope of the upstream scope catalogue.
func (AllowAll) UpstreamScopes(_ context.Context, in *policy.Input) policy.GrantDecision {
	g := policy.GrantDecision{Scopes: []string{}, Reasons: []string{allowAllReason}, Revision: "allow-all"}
	for _, s := range in.UpstreamScopes {
		g.Scopes = append(g.Scopes, s.Name)
	}
	return g
}
