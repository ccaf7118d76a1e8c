// Package console serves the security team's web console under /console:
// the upstream servers and their approval (Servers), what an identity's
// MCP client is shown and why, a call decided ahead and a groups ×
// servers matrix (Access explorer), the latest decisions with a chart
// (Decisions), and the policy in use with an employee's grants and
// upstream connections, revocable (Policy).
//
// It owns the pages and nothing they show: every answer comes from the
// gateway (Backend), the policy engine and the stores, and the access
// explorer's verdicts are the policy engine's own, on the catalog clients
// are served — never a copy of the policy's logic.
//
// Who may use it is the policy's decision: every request is signed in (a
// browser session of package websession) and decided in phase console,
// method console/<page>, or console/revoke for a revocation; a denied or
// failed decision refuses the page (fail closed). Revocations are posts
// that carry the session's CSRF token (websession.Manager.Require checks
// it), are decided and logged like any decision, and leave an audit line.
//
// The pages are server-rendered html/template with one stylesheet and one
// small script, embedded; everything works without the script. The
// Content-Security-Policy allows nothing but the console's own style,
// script and forms.
package console
