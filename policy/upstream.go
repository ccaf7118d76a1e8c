package policy

import (
	"context"

	"github.com/open-policy-agent/opa/v1/rego"
)

// DefaultUpstreamScopesQuery is the document every choice of upstream
// scopes is evaluated against.
const DefaultUpstreamScopesQuery = "data.mcpgate.authz.upstream_scopes"

// UpstreamScopes evaluates data.mcpgate.authz.upstream_scopes
// (Options.UpstreamScopesQuery) for an input of phase upstream: which
// scopes the gateway asks an upstream's authorization server for, for the
// user, the server and, when there is one, the request's target. The
// document must be an object {"scopes": [string], "reasons": [string]},
// as for Grant, and fails closed the same way: nil Scopes, Err set and
// the cause as the only reason. Every decision goes to the decision log,
// with the granted scopes.
//
// The engine returns what the policy says. The caller asks the upstream
// for the intersection with Input.UpstreamScopes, the server's upstream
// scope catalogue, and for nothing when Err is set.
func (e *Engine) UpstreamScopes(ctx context.Context, in *Input) GrantDecision {
	return e.decideScopes(ctx, in, upstreamDocument)
}

func upstreamDocument(c *compiled) (*rego.PreparedEvalQuery, string) {
	return &c.upstream, c.upstreamPath
}
