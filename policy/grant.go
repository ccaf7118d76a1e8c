package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
)

// DefaultGrantQuery is the document every scope grant is evaluated
// against.
const DefaultGrantQuery = "data.mcpgate.authz.grant"

// QueryFor returns the document the gateway evaluates for an input of
// phase, with the default queries: DefaultGrantQuery for PhaseGrant,
// DefaultUpstreamScopesQuery for PhaseUpstream, DefaultQuery for every
// other phase.
func QueryFor(phase string) string {
	switch phase {
	case PhaseGrant:
		return DefaultGrantQuery
	case PhaseUpstream:
		return DefaultUpstreamScopesQuery
	}
	return DefaultQuery
}

// GrantDecision is the outcome of data.mcpgate.authz.grant: the scopes the
// policy grants an OAuth client for a user; or of
// data.mcpgate.authz.upstream_scopes: the scopes the gateway may ask an
// upstream's authorization server for. Its zero value grants nothing.
//
// The engine returns what the policy says; it does not intersect it with
// what was requested or configured. Its callers do: a client never gets a
// scope it did not ask for, nor one outside the catalogue, and an upstream
// is never asked for a scope outside the server's upstream catalogue.
type GrantDecision struct {
	// Scopes are the scopes granted, in the policy's order (sorted when the
	// policy returns a set). Nil when the grant failed.
	Scopes []string
	// Reasons explain the grant: why each scope was granted or refused,
	// or, when the grant failed, the failure.
	Reasons []string
	// ID identifies the decision-log line; Revision, the policy that
	// decided. Both are always set, as for a Decision.
	ID       string
	Revision string
	// Err says why the grant failed closed (ErrNoPolicy, ErrNoInput,
	// ErrTimeout, ErrBusy, ErrCanceled, ErrEvaluation, ErrUndefined, ErrMalformed);
	// nil when the policy decided. Scopes is nil whenever Err is set.
	Err error
}

// Grant evaluates data.mcpgate.authz.grant (Options.GrantQuery) for an
// input of phase grant. The document must be an object
// {"scopes": [string], "reasons": [string]} (sets or arrays; reasons may be
// left out). Anything else grants nothing: no policy, an input that cannot
// be converted, an evaluation error, a timeout, an undefined or malformed
// grant all return nil Scopes, Err set and the cause as the only reason.
// The failure is logged, and every grant goes to the decision log, with
// the granted scopes.
func (e *Engine) Grant(ctx context.Context, in *Input) GrantDecision {
	return e.decideScopes(ctx, in, grantDocument)
}

// scopeDocument picks a scope document of a compiled policy: its prepared
// query and its decision path.
type scopeDocument func(*compiled) (*rego.PreparedEvalQuery, string)

func grantDocument(c *compiled) (*rego.PreparedEvalQuery, string) { return &c.grant, c.grantPath }

// decideScopes evaluates a scope document, fails closed and logs the
// decision with the granted scopes.
func (e *Engine) decideScopes(ctx context.Context, in *Input, doc scopeDocument) GrantDecision {
	start := time.Now()
	c := e.current.Load()
	input, rs, err := e.evaluate(ctx, c, in, func(c *compiled) *rego.PreparedEvalQuery { q, _ := doc(c); return q })
	var g GrantDecision
	if err == nil {
		g, err = parseGrant(rs)
	}
	if err != nil {
		g = GrantDecision{Reasons: []string{reason(err)}, Err: err}
	}
	d := Decision{Allow: len(g.Scopes) > 0, Reasons: g.Reasons}
	granted := g.Scopes
	if granted == nil {
		granted = []string{}
	}
	o := outcome{in: in, input: input, err: err, start: start, policy: c, record: true, granted: granted}
	if c != nil {
		_, o.path = doc(c)
	}
	e.settle(ctx, &d, o)
	g.ID, g.Revision = d.ID, d.Revision
	return g
}

// parseGrant reads {scopes, reasons} from the result.
func parseGrant(rs rego.ResultSet) (GrantDecision, error) {
	obj, err := resultObject(rs)
	if err != nil {
		return GrantDecision{}, err
	}
	if obj.Get(kScopes) == nil {
		return GrantDecision{}, fmt.Errorf("%w: scopes is missing", ErrMalformed)
	}
	scopes, err := stringList(obj, kScopes)
	if err != nil {
		return GrantDecision{}, err
	}
	reasons, err := stringList(obj, kReasons)
	if err != nil {
		return GrantDecision{}, err
	}
	return GrantDecision{Scopes: scopes, Reasons: reasons}, nil
}
