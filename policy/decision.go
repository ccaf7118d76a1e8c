package policy

// Decision is the outcome of data.mcpgate.authz.decision. Its zero value
// denies: a policy that is undefined, malformed or fails produces a
// Decision with Allow false and a reason saying why.
type Decision struct {
	Allow bool `json:"allow"`
	// Reasons explain the decision; a denial's reasons are shown to the
	// client in the MCP error.
	Reasons []string `json:"reasons"`
	// RequiredScopes, when the token lacks some of them, turn a denial into
	// an HTTP 403 insufficient_scope challenge so the client can step up.
	RequiredScopes []string `json:"required_scopes"`
	// AllowUnapproved lets a target that awaits approval through (its
	// input's approval is "modified" or "new" on a server whose approval
	// mode is enforce): the gateway hides and refuses such a target
	// unless both Allow and AllowUnapproved are true (docs/approval.md).
	AllowUnapproved bool `json:"allow_unapproved,omitempty"`

	// Set by the engine, not by the policy.
	ID       string `json:"decision_id"`
	Revision string `json:"revision"`
	// Cached is set when the decision cache served the decision
	// (Engine.DecideCached, CheckCached): the policy was not evaluated.
	Cached bool `json:"-"`
}
