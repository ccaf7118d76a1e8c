package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/approval"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// What the security team's console (package console) reads of the
// gateway: each upstream's catalog with its approval, what an identity's
// lists show and why, one call decided ahead, and the identities seen.
// Every answer is computed by the policy engine on the catalog clients
// are served, with Check: a look ahead, not a decision of record.

// Kinds of catalog items, as the console names them: the lock file's
// kinds, singular (approval.Kind.Singular).
const (
	KindTool     = "tool"
	KindPrompt   = "prompt"
	KindResource = "resource"
	KindTemplate = "resource template"
)

// CatalogItem is one tool, prompt, resource or resource template of an
// upstream.
type CatalogItem struct {
	Kind string
	// Name is what clients call it (the gateway's name of a tool or
	// prompt; a resource's URI or a template's URI template); for a
	// removed item, which clients no longer see, the upstream's name.
	Name string
	// UpstreamName is the upstream's own name of a tool or prompt.
	UpstreamName string
	Server       string
	Description  string
	// Approval is the item's standing against the lock file ("approved",
	// "modified", "new", or "removed" for an approved item the server no
	// longer lists); "" when approval is off for the server.
	Approval string
	// Quarantined: not approved, on a server in approval mode enforce:
	// hidden and refused unless the policy allows it unapproved.
	Quarantined bool
	// Level is what using the item takes, by MCP's hints: "read" for a
	// read-only tool (readOnlyHint), a prompt or a resource; "write" for
	// a tool that is not destructive (destructiveHint false); "all" for
	// any other tool (MCP's defaults make an unannotated tool destructive).
	// The shipped library's tool levels have these names and meanings.
	Level string
	// Diff describes a modified or new item against the lock
	// (approval.Change.Diff); "" for an approved or removed one.
	Diff string
}

// ServerCatalog returns what the upstream server lists now, in kind and
// name order, each item with its standing against the lock, and the
// approved items it no longer lists. It fails when the server is not
// configured or has listed nothing yet, saying why.
func (g *Gateway) ServerCatalog(server string) ([]CatalogItem, error) {
	u, f, err := g.listed(server)
	if err != nil {
		return nil, err
	}
	var items []CatalogItem
	var pins []approval.Item
	add := func(kind, name, upstreamName, description, level string, p pin) {
		items = append(items, CatalogItem{Kind: kind, Name: name, UpstreamName: upstreamName, Server: server,
			Description: description, Approval: string(p.state), Quarantined: p.quarantined, Level: level})
		pins = append(pins, p.item)
	}
	for _, e := range f.tools {
		add(KindTool, e.tool.Name, e.upstreamName, e.tool.Description, toolLevel(e.tool), e.pin)
	}
	for _, e := range f.prompts {
		add(KindPrompt, e.prompt.Name, e.upstreamName, e.prompt.Description, LevelRead, e.pin)
	}
	for _, e := range f.resources {
		add(KindResource, e.resource.URI, e.resource.URI, e.resource.Description, LevelRead, e.pin)
	}
	for _, e := range f.templates {
		add(KindTemplate, e.template.URITemplate, e.template.URITemplate, e.template.Description, LevelRead, e.pin)
	}
	if lock := g.lock.Load(); u.approvalMode != config.ApprovalOff && lock != nil {
		// An item whose definition could not be pinned has no kind: it is
		// never approved, and has no diff to show.
		pinned := slices.DeleteFunc(slices.Clone(pins), func(it approval.Item) bool { return it.Kind == "" })
		diffs := map[approval.Key]string{}
		for _, c := range approval.Compare(lock.Server(server), pinned) {
			if c.State == approval.Removed {
				items = append(items, CatalogItem{Kind: c.Kind.Singular(), Name: c.Name, UpstreamName: c.Name, Server: server,
					Approval: string(approval.Removed)})
				continue
			}
			diffs[approval.Key{Kind: c.Kind, Name: c.Name}] = c.Diff("")
		}
		for i, p := range pins {
			if p.Kind != "" {
				items[i].Diff = diffs[approval.Key{Kind: p.Kind, Name: p.Name}]
			}
		}
	}
	slices.SortStableFunc(items, func(a, b CatalogItem) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)), strings.Compare(a.Name, b.Name))
	})
	return items, nil
}

// listed returns the upstream server and what it lists now; it fails
// when the server is not configured or has listed nothing yet, saying why
// (its state and last error).
func (g *Gateway) listed(server string) (*upstream, *features, error) {
	for _, u := range g.ups {
		if u.cfg.Name != server {
			continue
		}
		u.mu.Lock()
		f, state, lastErr := u.features, u.state, u.lastErr
		u.mu.Unlock()
		if f == nil {
			return nil, nil, fmt.Errorf("server %q is %s: %s", server, state, cmp.Or(lastErr, "no answer yet"))
		}
		return u, f, nil
	}
	return nil, nil, fmt.Errorf("no server %q in the configuration", server)
}

// Levels of CatalogItem.Level, lowest first.
const (
	LevelNone  = "none"
	LevelRead  = "read"
	LevelWrite = "write"
	LevelAll   = "all"
)

var levelRank = map[string]int{LevelNone: 0, LevelRead: 1, LevelWrite: 2, LevelAll: 3}

// toolLevel is what using t takes, by its annotations and MCP's defaults.
func toolLevel(t *mcp.Tool) string {
	a := t.Annotations
	switch {
	case a != nil && a.ReadOnlyHint:
		return LevelRead
	case a != nil && a.DestructiveHint != nil && !*a.DestructiveHint:
		return LevelWrite
	default:
		return LevelAll
	}
}

func kindOrder(kind string) int {
	return slices.Index([]string{KindTool, KindPrompt, KindResource, KindTemplate}, kind)
}

// Access is one catalog entry as an identity's lists have it.
type Access struct {
	CatalogItem
	// Shown: the entry is in the identity's lists (the policy allows it in
	// the list phase and, when it awaits approval, allows it unapproved).
	Shown bool
	// Decision is the policy's list-phase decision of the entry alone,
	// reasons and required scopes included.
	Decision policy.Decision
	// Disagrees: Shown is not what Decision says. The lists come from the
	// policy's list query (data.mcpgate.authz.visible) when it has one,
	// which must agree with decision; this one does not, for this entry.
	Disagrees bool
}

// Exploration is what an identity's lists show of the catalog, and why.
type Exploration struct {
	PolicyRevision string
	// Items holds every entry clients are served (collisions left out),
	// in kind, server and name order.
	Items []Access
	// Incomplete: the context ended before every entry was decided;
	// Items holds those that were.
	Incomplete bool
}

// Explore decides, for id, every entry of the catalog clients are served:
// Shown as the list phase decides it (policyFilter.forCatalog: with a
// policy's list query when it has one), and each entry's own decision
// for its reasons and required scopes, all with the authorizer's look
// aheads (Check, CheckList): nothing is logged. The list phase does not
// look at the client or the arguments, so neither is asked for.
func (g *Gateway) Explore(ctx context.Context, id *authn.Identity) Exploration {
	id = lookAhead(id)
	cat := g.catalog()
	x := Exploration{PolicyRevision: g.policyRevision()}
	lists := (&policyFilter{g: g, id: id, lookAhead: true, ctx: ctx}).forCatalog(cat)
	if ctx.Err() != nil {
		x.Incomplete = true
		return x
	}
	decide := func(item CatalogItem, shown bool, target func(*policy.Input)) {
		if x.Incomplete = x.Incomplete || ctx.Err() != nil; x.Incomplete {
			return // a decision would only deny, saying the context ended
		}
		in := g.baseInput(id, policy.PhaseList, "")
		target(in)
		d := g.opts.Authorizer.Check(ctx, in)
		if ctx.Err() != nil {
			x.Incomplete = true // cut short: its denial says nothing
			return
		}
		x.Items = append(x.Items, Access{CatalogItem: item, Decision: d, Shown: shown,
			Disagrees: shown != (d.Allow && (d.AllowUnapproved || !g.quarantined(in)))})
	}
	for _, e := range sortedEntries(cat.tools) {
		decide(CatalogItem{Kind: KindTool, Name: e.tool.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name,
			Description: e.tool.Description, Approval: e.pin.approvalOf(), Quarantined: e.pin.quarantined, Level: toolLevel(e.tool)},
			lists.Tool(e), func(in *policy.Input) { g.listTool(in, e) })
	}
	for _, e := range sortedEntries(cat.prompts) {
		decide(CatalogItem{Kind: KindPrompt, Name: e.prompt.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name,
			Description: e.prompt.Description, Approval: e.pin.approvalOf(), Quarantined: e.pin.quarantined, Level: LevelRead},
			lists.Prompt(e), func(in *policy.Input) { g.listPrompt(in, e) })
	}
	for _, e := range sortedEntries(cat.resources) {
		decide(CatalogItem{Kind: KindResource, Name: e.resource.URI, UpstreamName: e.resource.URI, Server: e.up.cfg.Name,
			Description: e.resource.Description, Approval: e.pin.approvalOf(), Quarantined: e.pin.quarantined, Level: LevelRead},
			lists.Resource(e), func(in *policy.Input) { g.listResource(in, e) })
	}
	for _, e := range sortedEntries(cat.templates) {
		decide(CatalogItem{Kind: KindTemplate, Name: e.template.URITemplate, UpstreamName: e.template.URITemplate,
			Server: e.up.cfg.Name, Description: e.template.Description, Approval: e.pin.approvalOf(), Quarantined: e.pin.quarantined, Level: LevelRead},
			lists.ResourceTemplate(e), func(in *policy.Input) { g.listTemplate(in, e) })
	}
	slices.SortStableFunc(x.Items, func(a, b Access) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)), strings.Compare(a.Server, b.Server), strings.Compare(a.Name, b.Name))
	})
	return x
}

// lookAhead is id as the console's look ahead decides for it: without its
// PolicyKey, since baseInput's g.keys.of records every new PolicyKey as a
// caller seen (SeenIdentities) and caches its keys; an identity the
// console explores has made no request.
func lookAhead(id *authn.Identity) *authn.Identity {
	if id == nil || id.PolicyKey == "" {
		return id
	}
	c := *id
	c.PolicyKey = ""
	return &c
}

// sortedEntries returns m's entries in key order.
func sortedEntries[E any](m map[string]E) []E {
	out := make([]E, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// WhatIfRequest is one call to decide ahead: tools/call (Name, and
// Arguments a JSON object), prompts/get (Name, and Arguments a JSON
// object of strings) or resources/read (Name is the URI).
type WhatIfRequest struct {
	Method    string
	Name      string
	Arguments json.RawMessage
	// Client is the MCP client as it names itself (clientInfo), if any.
	Client *policy.Client
}

// Outcomes of a WhatIf.
const (
	WhatIfAllowed        = "allowed"
	WhatIfDenied         = "denied"
	WhatIfAwaitsApproval = "refused: awaits approval"
	WhatIfNotFound       = "not found"
)

// WhatIfResult is a call decided ahead.
type WhatIfResult struct {
	// Outcome is what the caller would get: WhatIfAllowed, WhatIfDenied,
	// WhatIfAwaitsApproval, or WhatIfNotFound (no such target in the
	// catalog, or one the caller's lists do not show: the gateway answers
	// both alike).
	Outcome string
	// Shown says whether the caller's lists show the target.
	Shown bool
	// Input is the policy input the call is decided with (nil when the
	// target does not exist); Decision is the call-phase decision.
	Input    *policy.Input
	Decision policy.Decision
}

// ErrWhatIf wraps a what-if request that cannot be decided (an unknown
// method, arguments that are not a JSON object).
var ErrWhatIf = errors.New("what if")

// WhatIf decides one call of id ahead, as the call phase would
// (view.decide), with the policy engine's Check: nothing is logged, and
// nothing reaches an upstream.
func (g *Gateway) WhatIf(ctx context.Context, id *authn.Identity, req WhatIfRequest) (WhatIfResult, error) {
	id = lookAhead(id)
	var params mcp.Params
	args := req.Arguments
	if a := strings.TrimSpace(string(args)); a == "" || a == "null" {
		args = json.RawMessage("{}") // no arguments, as the gateway reads null
	}
	switch req.Method {
	case "tools/call":
		var obj map[string]any
		if err := json.Unmarshal(args, &obj); err != nil || obj == nil {
			return WhatIfResult{}, fmt.Errorf("%w: the arguments must be a JSON object", ErrWhatIf)
		}
		params = &mcp.CallToolParamsRaw{Name: req.Name, Arguments: args}
	case "prompts/get":
		var obj map[string]string
		if err := json.Unmarshal(args, &obj); err != nil || obj == nil {
			return WhatIfResult{}, fmt.Errorf("%w: a prompt's arguments must be a JSON object of strings", ErrWhatIf)
		}
		params = &mcp.GetPromptParams{Name: req.Name, Arguments: obj}
	case "resources/read":
		params = &mcp.ReadResourceParams{URI: req.Name}
	default:
		return WhatIfResult{}, fmt.Errorf("%w: method %q: use tools/call, prompts/get or resources/read", ErrWhatIf, req.Method)
	}
	cat := g.catalog()
	in, _, err := g.callInput(id, req.Method, params, cat)
	switch {
	case errors.Is(err, errNoTarget):
		return WhatIfResult{Outcome: WhatIfNotFound}, nil
	case err != nil:
		return WhatIfResult{}, fmt.Errorf("%w: %w", ErrWhatIf, err)
	}
	in.Client = req.Client
	d := g.opts.Authorizer.Check(ctx, in)
	r := WhatIfResult{Input: in, Decision: d, Shown: g.listShows(ctx, id, cat, in)}
	if err := ctx.Err(); err != nil {
		return WhatIfResult{}, fmt.Errorf("%w: not decided: %w", ErrWhatIf, err) // its denials say nothing
	}
	switch {
	case d.Allow && g.quarantined(in) && !d.AllowUnapproved:
		r.Outcome = WhatIfAwaitsApproval
	case d.Allow && r.Shown:
		r.Outcome = WhatIfAllowed
	case r.Shown:
		r.Outcome = WhatIfDenied
	default:
		r.Outcome = WhatIfNotFound
	}
	return r, nil
}

// listShows decides whether id's lists of cat show the target of the
// call input in, as the list phase decides (Explore).
func (g *Gateway) listShows(ctx context.Context, id *authn.Identity, cat *catalog, call *policy.Input) bool {
	lists := (&policyFilter{g: g, id: id, lookAhead: true, ctx: ctx}).forCatalog(cat)
	switch {
	case call.Tool != nil:
		e, ok := cat.tools[call.Tool.Name]
		return ok && lists.Tool(e)
	case call.Prompt != nil:
		e, ok := cat.prompts[call.Prompt.Name]
		return ok && lists.Prompt(e)
	case call.Resource != nil && call.Resource.URITemplate != "":
		e, ok := cat.templates[call.Resource.URITemplate]
		return ok && lists.ResourceTemplate(e)
	case call.Resource != nil:
		e, ok := cat.resources[call.Resource.URI]
		return ok && lists.Resource(e)
	}
	return false
}

// Matrix is the access of groups to servers: Cells[i][j] is what a member
// of Groups[i] alone (no other group, no scopes) is shown of Servers[j].
type Matrix struct {
	Groups  []string
	Servers []string
	Cells   [][]MatrixCell
	// Incomplete: the context ended first; Cells has the rows of the
	// groups decided in full, Groups is cut to them.
	Incomplete bool
}

// MatrixCell counts the entries of a server a group is shown.
type MatrixCell struct {
	// Level is the highest Level of the entries shown (LevelNone when
	// none is): what the group may do on the server, as far as its
	// catalog tells.
	Level        string
	Shown, Total int
	// Names are the entries shown, in kind and name order.
	Names []string
}

// MaxMatrixGroups bounds the groups of one Matrix: each costs a decision
// per catalog entry.
const MaxMatrixGroups = 50

// Matrix explores, for each group, an identity of that group alone.
// Groups beyond MaxMatrixGroups are left out.
func (g *Gateway) Matrix(ctx context.Context, groups []string) Matrix {
	if len(groups) > MaxMatrixGroups {
		groups = groups[:MaxMatrixGroups]
	}
	m := Matrix{Groups: groups}
	for _, u := range g.ups {
		m.Servers = append(m.Servers, u.cfg.Name)
	}
	for _, group := range groups {
		row := make([]MatrixCell, len(m.Servers))
		for j := range row {
			row[j].Level = LevelNone
		}
		x := g.Explore(ctx, &authn.Identity{Subject: "member of " + group, Groups: []string{group}})
		if x.Incomplete {
			m.Groups, m.Incomplete = m.Groups[:len(m.Cells)], true
			break
		}
		for _, a := range x.Items {
			j := slices.Index(m.Servers, a.Server)
			if j < 0 {
				continue
			}
			row[j].Total++
			if a.Shown {
				row[j].Shown++
				row[j].Names = append(row[j].Names, a.Name)
				if levelRank[a.Level] > levelRank[row[j].Level] {
					row[j].Level = a.Level
				}
			}
		}
		m.Cells = append(m.Cells, row)
	}
	return m
}

// seenIdentities remembers the identities of the latest callers, one per
// issuer and subject, for the console's user picker.
type seenIdentities struct {
	mu  sync.Mutex
	ids map[[2]string]seenIdentity
}

type seenIdentity struct {
	id   authn.Identity
	seen time.Time
}

// maxSeenIdentities bounds seenIdentities; the one added longest ago goes
// (an identity is added when its keys are first computed, not at each
// request: the hot path pays nothing for it).
const maxSeenIdentities = 1000

func (s *seenIdentities) add(id *authn.Identity) {
	if id == nil {
		return
	}
	k := [2]string{id.Issuer, id.Subject}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[[2]string]seenIdentity{}
	}
	if _, ok := s.ids[k]; !ok && len(s.ids) >= maxSeenIdentities {
		var oldest [2]string
		var at time.Time
		for k, v := range s.ids {
			if at.IsZero() || v.seen.Before(at) {
				oldest, at = k, v.seen
			}
		}
		delete(s.ids, oldest)
	}
	s.ids[k] = seenIdentity{id: *id, seen: now}
}

// SeenIdentities returns the identities of the latest callers (at most
// 1000, one per issuer and subject, each as its latest token had it), by
// subject.
func (g *Gateway) SeenIdentities() []authn.Identity {
	s := &g.keys.seen
	s.mu.Lock()
	out := make([]authn.Identity, 0, len(s.ids))
	for _, v := range s.ids {
		out = append(out, v.id)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b authn.Identity) int {
		return cmp.Or(strings.Compare(a.Subject, b.Subject), strings.Compare(a.Issuer, b.Issuer))
	})
	return out
}

// PolicyServer is the server input (name and labels) the policy sees for
// the configured upstream named name, and whether there is one.
func (g *Gateway) PolicyServer(name string) (*policy.Server, bool) {
	for _, u := range g.ups {
		if u.cfg.Name == name {
			return g.serverInput(u), true
		}
	}
	return nil, false
}
