package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/authserver"
	"github.com/mcpgate/mcpgate/connections"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/policy"
)

type policyContent struct {
	Status         policy.Status
	Lock           *gateway.LockStatus
	HasGrants      bool
	HasConnections bool
	Sub            string
	Grants         []authserver.Grant
	Connections    []connections.Connection
	Error          string
	CSRF           string
	Flashed        string
	// Overview holds the grants and connections of the users seen, when
	// no employee is looked up.
	Overview []employeeAccess
	// OverviewCut says the overview left users out (maxOverview).
	OverviewCut bool
}

// employeeAccess is a line of the overview: an employee's grants and
// connections.
type employeeAccess struct {
	Sub, Label  string
	Grants      []authserver.Grant
	Connections []connections.Connection
}

// maxOverview bounds the users of the overview: each costs a few store
// reads.
const maxOverview = 100

func (p policyContent) flash() string { return p.Flashed }

// policy shows the policy in use and, for the employee named by sub, the
// authorization server's grants and the upstream connections.
func (c *Console) policy(w http.ResponseWriter, r *http.Request, _ *authn.Identity) {
	p := policyContent{Status: c.opts.Authorizer.Status(), Lock: c.opts.Backend.Status().Lock,
		HasGrants: c.opts.Grants != nil, HasConnections: c.opts.Connections != nil, Sub: r.FormValue("sub"),
		CSRF: c.opts.Sessions.CSRFToken(r)}
	p.Flashed = takeFlash(w, r)
	status := http.StatusOK
	if len(p.Sub) > maxField {
		p.Sub, p.Error, status = "", fmt.Sprintf("subject: at most %d characters", maxField), http.StatusBadRequest
	}
	if p.Sub != "" {
		var err error
		if c.opts.Grants != nil {
			if p.Grants, err = c.opts.Grants.Grants(r.Context(), p.Sub); err != nil {
				c.log.Error("console: list grants", "sub", p.Sub, "err", err)
				p.Error, status = "The grants could not be read from the store; try again.", http.StatusServiceUnavailable
			}
		}
		if c.opts.Connections != nil && err == nil {
			if p.Connections, err = c.opts.Connections.Connections(r.Context(), c.employee(p.Sub)); err != nil {
				c.log.Error("console: list connections", "sub", p.Sub, "err", err)
				p.Error, status = "The connections could not be read from the store; try again.", http.StatusServiceUnavailable
			}
		}
	}
	if p.Sub == "" && status == http.StatusOK && (p.HasGrants || p.HasConnections) {
		var err error
		if busy := c.explore(r.Context(), func(ctx context.Context) { err = c.overview(ctx, &p) }); busy != nil {
			p.Error, status = busy.Error(), http.StatusServiceUnavailable
		} else if err != nil {
			c.log.Error("console: grants and connections overview", "err", err)
			p.Error, status = "The grants and connections could not be read from the store; try again.", http.StatusServiceUnavailable
		}
	}
	c.render(w, r, status, "policy", "Policy", p)
}

// overview reads the grants and connections of the users seen (the store
// keeps them under hashed keys, so it cannot list everyone's): at most
// maxOverview, those with neither left out.
func (c *Console) overview(ctx context.Context, p *policyContent) error {
	seen := c.opts.Backend.SeenIdentities()
	subs := make([]string, 0, len(seen))
	labels := map[string]string{}
	for i := range seen {
		if _, dup := labels[seen[i].Subject]; !dup {
			subs = append(subs, seen[i].Subject)
			labels[seen[i].Subject] = identityLabel(&seen[i])
		}
	}
	if len(subs) > maxOverview {
		subs, p.OverviewCut = subs[:maxOverview], true
	}
	for _, sub := range subs {
		a := employeeAccess{Sub: sub, Label: labels[sub]}
		var err error
		if c.opts.Grants != nil {
			if a.Grants, err = c.opts.Grants.Grants(ctx, sub); err != nil {
				return err
			}
		}
		if c.opts.Connections != nil {
			if a.Connections, err = c.opts.Connections.Connections(ctx, c.employee(sub)); err != nil {
				return err
			}
		}
		if len(a.Grants)+len(a.Connections) > 0 {
			p.Overview = append(p.Overview, a)
		}
	}
	return nil
}

// employee is the identity an employee's connections are stored under.
func (c *Console) employee(sub string) *authn.Identity {
	return &authn.Identity{Subject: sub, Issuer: c.opts.ConnectionsIssuer}
}

// revoke revokes a grant (kind grant, target the client id) or a
// connection (kind connection, target the server) of the employee sub,
// when the policy allows the operator to (console/revoke), and leaves an
// audit line either way.
func (c *Console) revoke(w http.ResponseWriter, r *http.Request, operator *authn.Identity) {
	sub, kind, target := r.PostFormValue("sub"), r.PostFormValue("kind"), r.PostFormValue("target")
	in := c.input(r, operator, policy.MethodConsoleRevoke)
	in.Employee = &policy.Employee{Sub: sub}
	refuse := func(message string) {
		c.log.Warn("console: malformed revocation refused", "operator", operator.Subject, "employee", cut(sub), "kind", cut(kind),
			"target", cut(target), "reason", message)
		c.errorPage(w, r, http.StatusBadRequest, "Malformed request", message, nil)
	}
	switch {
	case sub == "" || target == "" || len(sub) > maxField || len(target) > 4*maxField:
		refuse("The form names no employee or nothing to revoke.")
		return
	case kind == "grant" && c.opts.Grants != nil:
		in.Client = &policy.Client{ID: target}
	case kind == "connection" && c.opts.Connections != nil:
		var ok bool
		if in.Server, ok = c.opts.Backend.PolicyServer(target); !ok {
			refuse("There is no server " + target + " to revoke a connection to.")
			return
		}
	default:
		refuse("There is nothing of kind " + kind + " to revoke here.")
		return
	}
	d := c.opts.Authorizer.Decide(r.Context(), in)
	audit := []any{"operator", operator.Subject, "operator_email", operator.Email, "employee", sub, "kind", kind, "target", target,
		"decision_id", d.ID}
	if !d.Allow {
		c.log.Warn("console: revocation refused by the policy", append(audit, "reasons", d.Reasons)...)
		c.errorPage(w, r, http.StatusForbidden, "Not allowed", "The policy does not let you revoke.", d.Reasons)
		return
	}
	var found bool
	var err error
	if kind == "grant" {
		found, err = c.opts.Grants.RevokeGrant(r.Context(), sub, target, "operator "+operator.Subject+" in the console")
	} else {
		found, err = c.opts.Connections.Revoke(r.Context(), c.employee(sub), target)
	}
	if err != nil {
		c.log.Error("console: revocation failed", append(audit, "err", err)...)
		c.errorPage(w, r, http.StatusServiceUnavailable, "Not revoked",
			"The revocation failed (the gateway's log says why, under decision "+d.ID+"). Try again.", nil)
		return
	}
	c.log.Info("console: revoked", append(audit, "found", found)...)
	outcome := kind
	if !found {
		outcome = "none"
	}
	setFlash(w, outcome)
	http.Redirect(w, r, Path+"/policy?"+url.Values{"sub": {sub}}.Encode(), http.StatusSeeOther)
}

// flashCookie carries the outcome of a revocation to the page the browser
// is sent to: a link cannot set it, so no crafted link shows a revocation
// that did not happen. It holds one of a few fixed messages.
const flashCookie = "mcpgate-console-flash"

var flashes = map[string]string{
	"grant":      "The grant was revoked.",
	"connection": "The connection was revoked.",
	"none":       "There was nothing to revoke: it had gone already.",
}

// setFlash flashes the message of key (of flashes) on the next page.
func setFlash(w http.ResponseWriter, key string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: key, Path: Path, MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// takeFlash returns the flashed message, if any, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: Path, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return flashes[ck.Value]
}

// cut bounds a form value for a log line, at a rune boundary.
func cut(s string) string {
	if len(s) <= maxField {
		return s
	}
	return strings.ToValidUTF8(s[:maxField], "") + "…"
}
