package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/policy"
)

// Bounds of the explorer's form.
const (
	maxField     = 256 // a subject, a group, a scope, a name, a client
	maxListItems = 50  // groups or scopes
	maxArguments = 32 << 10
)

// whatIfMethods are the calls the what-if box decides.
var whatIfMethods = []string{"tools/call", "prompts/get", "resources/read"}

// explorerForm is the explorer's form as submitted.
type explorerForm struct {
	Seen, Sub, Groups, Scopes, ClientID string
	Method, Target, Arguments, Client   string
}

type seenOption struct {
	Key, Label string
	Selected   bool
}

type explored struct {
	Label string
}

type explorerContent struct {
	Form           explorerForm
	Seen           []seenOption
	Methods        []string
	Identity       *explored
	PolicyRevision string
	Items          []gateway.Access
	Incomplete     bool
	Shown          int
	WhatIf         *gateway.WhatIfResult
	InputJSON      string
	Error          string
	CSRF           string
}

// explorer shows what an identity is shown (GET), and decides a call
// ahead (POST, from the what-if box).
func (c *Console) explorer(w http.ResponseWriter, r *http.Request, _ *authn.Identity) {
	f := explorerForm{Seen: r.FormValue("seen"), Sub: r.FormValue("sub"), Groups: r.FormValue("groups"), Scopes: r.FormValue("scopes"),
		ClientID: r.FormValue("client_id"),
		Method:   r.FormValue("method"), Target: r.FormValue("target"), Arguments: r.FormValue("arguments"), Client: r.FormValue("client")}
	x := explorerContent{Form: f, Methods: whatIfMethods, CSRF: c.opts.Sessions.CSRFToken(r)}
	seen := c.opts.Backend.SeenIdentities()
	for i := range seen {
		k := seenKey(&seen[i])
		x.Seen = append(x.Seen, seenOption{Key: k, Label: identityLabel(&seen[i]), Selected: k == f.Seen})
	}
	id, err := pickIdentity(f, seen)
	status := http.StatusOK
	if err != nil {
		x.Error, status = err.Error(), http.StatusBadRequest
	}
	if id != nil {
		x.Identity = &explored{Label: identityLabel(id)}
		busy := c.explore(r.Context(), func(ctx context.Context) {
			ex := c.opts.Backend.Explore(ctx, id)
			x.PolicyRevision, x.Items, x.Incomplete = ex.PolicyRevision, ex.Items, ex.Incomplete
			for _, a := range ex.Items {
				if a.Shown {
					x.Shown++
				}
			}
			if r.Method == http.MethodPost && err == nil && !x.Incomplete {
				if status, err = c.whatIf(ctx, r, id, f, &x); err != nil {
					x.Error = err.Error()
				}
			}
		})
		if busy != nil {
			x.Identity, x.Error, status = nil, busy.Error(), http.StatusServiceUnavailable
		}
	}
	c.render(w, r, status, "explorer", "Access explorer", x)
}

// whatIf decides the form's call for id into x.
func (c *Console) whatIf(ctx context.Context, r *http.Request, id *authn.Identity, f explorerForm, x *explorerContent) (int, error) {
	if !slices.Contains(whatIfMethods, f.Method) {
		return http.StatusBadRequest, fmt.Errorf("method %q: use one of %s", f.Method, strings.Join(whatIfMethods, ", "))
	}
	if f.Target == "" || len(f.Target) > 4*maxField {
		return http.StatusBadRequest, fmt.Errorf("name or URI: between 1 and %d characters", 4*maxField)
	}
	if len(f.Arguments) > maxArguments || len(f.Client) > maxField {
		return http.StatusBadRequest, fmt.Errorf("arguments: at most %d bytes; client name: at most %d characters", maxArguments, maxField)
	}
	req := gateway.WhatIfRequest{Method: f.Method, Name: f.Target, Arguments: json.RawMessage(f.Arguments)}
	if f.Client != "" {
		req.Client = &policy.Client{Name: f.Client}
	}
	res, err := c.opts.Backend.WhatIf(ctx, id, req)
	if err != nil {
		return http.StatusBadRequest, err
	}
	x.WhatIf = &res
	if res.Input != nil {
		in, err := json.MarshalIndent(res.Input, "", "  ")
		if err != nil {
			return http.StatusInternalServerError, fmt.Errorf("the policy input cannot be shown: %w", err)
		}
		x.InputJSON = string(in)
	}
	return http.StatusOK, nil
}

// seenKey names a seen identity in the form: its issuer (a URL, which has
// no '#') and its subject.
func seenKey(id *authn.Identity) string { return id.Issuer + "#" + id.Subject }

func identityLabel(id *authn.Identity) string {
	name := id.Subject
	if id.Email != "" {
		name = id.Email + " (" + id.Subject + ")"
	}
	groups := "no groups"
	if len(id.Groups) > 0 {
		groups = "groups: " + strings.Join(id.Groups, ", ")
	}
	return name + ", " + groups
}

// pickIdentity is the identity the form names: a seen one, or the one
// typed in; nil when the form names none.
func pickIdentity(f explorerForm, seen []authn.Identity) (*authn.Identity, error) {
	if f.Seen != "" {
		for i := range seen {
			if seenKey(&seen[i]) == f.Seen {
				return &seen[i], nil
			}
		}
		return nil, errors.New("that user is no longer among the users seen: pick another, or type one in")
	}
	if f.Sub == "" && f.Groups == "" {
		return nil, nil
	}
	if len(f.Sub) > maxField {
		return nil, fmt.Errorf("subject: at most %d characters", maxField)
	}
	if len(f.ClientID) > maxField {
		return nil, fmt.Errorf("OAuth client: at most %d characters", maxField)
	}
	groups, err := splitList("groups", f.Groups)
	if err != nil {
		return nil, err
	}
	scopes, err := splitList("scopes", f.Scopes)
	if err != nil {
		return nil, err
	}
	sub := f.Sub
	if sub == "" {
		sub = "(a member of " + strings.Join(groups, ", ") + ")"
	}
	return &authn.Identity{Subject: sub, Groups: groups, Scopes: scopes, ClientID: f.ClientID}, nil
}

// splitList splits a field of names separated by commas or spaces.
func splitList(field, s string) ([]string, error) {
	items := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if len(items) > maxListItems {
		return nil, fmt.Errorf("%s: at most %d", field, maxListItems)
	}
	for _, it := range items {
		if len(it) > maxField {
			return nil, fmt.Errorf("%s: each at most %d characters", field, maxField)
		}
	}
	return items, nil
}

type matrixContent struct {
	Groups string
	Max    int
	Matrix gateway.Matrix
	Error  string
}

// matrix shows groups × servers.
func (c *Console) matrix(w http.ResponseWriter, r *http.Request, _ *authn.Identity) {
	raw := r.FormValue("groups")
	groups, err := splitList("groups", raw)
	content := matrixContent{Groups: raw, Max: gateway.MaxMatrixGroups}
	if err != nil {
		content.Error = err.Error()
		c.render(w, r, http.StatusBadRequest, "matrix", "Groups × servers", content)
		return
	}
	if raw == "" {
		for _, id := range c.opts.Backend.SeenIdentities() {
			groups = append(groups, id.Groups...)
		}
		slices.Sort(groups)
		groups = slices.Compact(groups)
		content.Groups = strings.Join(groups, ", ")
	}
	status := http.StatusOK
	if err := c.explore(r.Context(), func(ctx context.Context) { content.Matrix = c.opts.Backend.Matrix(ctx, groups) }); err != nil {
		content.Error, status = err.Error(), http.StatusServiceUnavailable
	}
	c.render(w, r, status, "matrix", "Groups × servers", content)
}
