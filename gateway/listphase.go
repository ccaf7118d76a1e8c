package gateway

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
	"go.opentelemetry.io/otel/attribute"
)

// policyFilter is the list phase for one identity: each catalog entry is
// decided once per (identity, policy revision, catalog revision), when the
// view is synced, never per list request.
type policyFilter struct {
	g  *Gateway
	id *authn.Identity
	// sharedRevision and sharedKey are set for a shared view's filter:
	// its lists must be the list query's under the policy that gave the
	// list key (DecideListShared).
	sharedRevision, sharedKey string
	// lookAhead decides as the list phase does, but with the authorizer's
	// look aheads (Check, CheckList) under ctx: nothing is logged, counted
	// or traced (the console's explorer).
	lookAhead bool
	ctx       context.Context
}

// ListChecker is a ListAuthorizer's look ahead (policy.Engine.CheckList):
// DecideList without the decision log.
type ListChecker interface {
	CheckList(ctx context.Context, in *policy.Input, cat *policy.ListCatalog) []bool
}

// checkedLists is a ListChecker as a ListAuthorizer.
type checkedLists struct{ ListChecker }

func (c checkedLists) DecideList(ctx context.Context, in *policy.Input, cat *policy.ListCatalog) []bool {
	return c.CheckList(ctx, in, cat)
}

// A target that awaits approval (quarantined, approval.go) is shown only
// when the policy allows it with allow_unapproved.
func (f *policyFilter) decide(target func(*policy.Input)) bool {
	in := f.g.baseInput(f.id, policy.PhaseList, "")
	target(in)
	var d policy.Decision
	if f.lookAhead {
		d = f.g.opts.Authorizer.Check(f.ctx, in)
	} else {
		d = f.g.decideObserved(context.Background(), in)
	}
	return d.Allow && (d.AllowUnapproved || !f.g.quarantined(in))
}

func (f *policyFilter) Tool(e *toolEntry) bool {
	return f.decide(func(in *policy.Input) { f.g.listTool(in, e) })
}

func (f *policyFilter) Prompt(e *promptEntry) bool {
	return f.decide(func(in *policy.Input) { f.g.listPrompt(in, e) })
}

func (f *policyFilter) Resource(e *resourceEntry) bool {
	return f.decide(func(in *policy.Input) { f.g.listResource(in, e) })
}

func (f *policyFilter) ResourceTemplate(e *templateEntry) bool {
	return f.decide(func(in *policy.Input) { f.g.listTemplate(in, e) })
}

// listTool, listPrompt, listResource and listTemplate set the method and
// the target of an entry's list-phase input.
func (g *Gateway) listTool(in *policy.Input, e *toolEntry) {
	in.Method, in.Server, in.Tool = "tools/list", g.serverInput(e.up), toolInput(e)
}

func (g *Gateway) listPrompt(in *policy.Input, e *promptEntry) {
	in.Method, in.Server, in.Prompt = "prompts/list", g.serverInput(e.up), promptInput(e)
}

func (g *Gateway) listResource(in *policy.Input, e *resourceEntry) {
	in.Method, in.Server, in.Resource = "resources/list", g.serverInput(e.up), resourceTarget(e)
}

func (g *Gateway) listTemplate(in *policy.Input, e *templateEntry) {
	in.Method, in.Server, in.Resource = "resources/templates/list", g.serverInput(e.up), templateTarget(e)
}

// ListAuthorizer is an Authorizer that decides the list phase of a whole
// catalog in one evaluation (policy.Engine.DecideList): visible[i] is the
// list decision of entries[i], one decision-log line for them all.
type ListAuthorizer interface {
	DecideList(ctx context.Context, in *policy.Input, cat *policy.ListCatalog) []bool
}

// decided is a list phase already decided for a whole catalog.
type decided struct {
	tools     map[*toolEntry]bool
	prompts   map[*promptEntry]bool
	resources map[*resourceEntry]bool
	templates map[*templateEntry]bool
}

func (d *decided) Tool(e *toolEntry) bool                 { return d.tools[e] }
func (d *decided) Prompt(e *promptEntry) bool             { return d.prompts[e] }
func (d *decided) Resource(e *resourceEntry) bool         { return d.resources[e] }
func (d *decided) ResourceTemplate(e *templateEntry) bool { return d.templates[e] }

// forCatalog decides the list phase of cat for f's caller: with a
// ListAuthorizer, one evaluation per kind of feature (each with its own
// list method, as the per-entry inputs have), else f itself, entry by
// entry.
func (f *policyFilter) forCatalog(cat *catalog) filter {
	la, ok := f.g.opts.Authorizer.(ListAuthorizer)
	if f.lookAhead {
		var lc ListChecker
		if lc, ok = f.g.opts.Authorizer.(ListChecker); ok {
			la = checkedLists{lc}
		}
	}
	if f.sharedRevision != "" {
		sa, ok := f.g.opts.Authorizer.(SharedListAuthorizer)
		if !ok {
			return nil
		}
		la = sharedLists{sa, f.sharedKey, new(atomic.Bool)}
	} else if !ok {
		return f
	}
	d := &decided{
		tools: decideKind(f, la, "tools/list", cat.tools, &cat.listed.tools, func(e *toolEntry) policy.ListEntry {
			return policy.ListEntry{Server: f.g.serverInput(e.up), Tool: toolInput(e)}
		}),
		prompts: decideKind(f, la, "prompts/list", cat.prompts, &cat.listed.prompts, func(e *promptEntry) policy.ListEntry {
			return policy.ListEntry{Server: f.g.serverInput(e.up), Prompt: promptInput(e)}
		}),
		resources: decideKind(f, la, "resources/list", cat.resources, &cat.listed.resources, func(e *resourceEntry) policy.ListEntry {
			return policy.ListEntry{Server: f.g.serverInput(e.up), Resource: resourceTarget(e)}
		}),
		templates: decideKind(f, la, "resources/templates/list", cat.templates, &cat.listed.templates, func(e *templateEntry) policy.ListEntry {
			return policy.ListEntry{Server: f.g.serverInput(e.up), Resource: templateTarget(e)}
		}),
	}
	if s, ok := la.(sharedLists); ok && s.failed.Load() {
		return nil
	}
	// The list query decides what approval allows, not what awaits it:
	// each quarantined entry (rare: what changed since approval) gets a
	// decision of its own, which must allow it with allow_unapproved.
	unapprovedByEntry(d.tools, func(e *toolEntry) bool { return e.pin.quarantined }, f.Tool)
	unapprovedByEntry(d.prompts, func(e *promptEntry) bool { return e.pin.quarantined }, f.Prompt)
	unapprovedByEntry(d.resources, func(e *resourceEntry) bool { return e.pin.quarantined }, f.Resource)
	unapprovedByEntry(d.templates, func(e *templateEntry) bool { return e.pin.quarantined }, f.ResourceTemplate)
	return d
}

// unapprovedByEntry decides the quarantined entries of decided one by one.
func unapprovedByEntry[E comparable](decided map[E]bool, quarantined func(E) bool, decide func(E) bool) {
	for e := range decided {
		if quarantined(e) {
			decided[e] = decide(e)
		}
	}
}

// sharedLists decides the lists of a shared view under its revision, and
// notes a list that the list query did not decide.
type sharedLists struct {
	SharedListAuthorizer
	key    string
	failed *atomic.Bool
}

func (s sharedLists) DecideList(ctx context.Context, in *policy.Input, cat *policy.ListCatalog) []bool {
	visible, ok := s.DecideListShared(ctx, s.key, in, cat)
	if !ok {
		s.failed.Store(true)
	}
	return visible
}

// listed is one kind of a catalog's entries as the list phase has them,
// prepared when the catalog is first listed: the entries in the catalog's
// order (by name, not the map's: the engine shares a list decision among
// callers only for the same catalog) and the policy's ListCatalog of them.
// A catalog is immutable, so each kind is prepared once per revision, not
// once per new caller.
type listed struct {
	once    sync.Once
	entries any // []E of the kind
	cat     *policy.ListCatalog
}

// decideKind decides the entries of one kind in one evaluation, observed
// like any decision (a span, the decision metric).
func decideKind[E comparable](f *policyFilter, la ListAuthorizer, method string, entries map[string]E, prepared *listed, entry func(E) policy.ListEntry) map[E]bool {
	out := make(map[E]bool, len(entries))
	if len(entries) == 0 {
		return out
	}
	prepared.once.Do(func() {
		keys := make([]E, 0, len(entries))
		list := make([]policy.ListEntry, 0, len(entries))
		for _, name := range slices.Sorted(maps.Keys(entries)) {
			keys = append(keys, entries[name])
			list = append(list, entry(entries[name]))
		}
		prepared.entries, prepared.cat = keys, policy.NewListCatalog(list)
	})
	keys := prepared.entries.([]E)
	if f.lookAhead {
		visible := la.DecideList(f.ctx, f.g.baseInput(f.id, policy.PhaseList, method), prepared.cat)
		for i, e := range keys {
			out[e] = visible[i]
		}
		return out
	}
	ctx, span := f.g.tracer.Start(context.Background(), "mcpgate.policy "+policy.PhaseList)
	defer span.End()
	start := time.Now()
	visible := la.DecideList(ctx, f.g.baseInput(f.id, policy.PhaseList, method), prepared.cat)
	shown := 0
	for i, e := range keys {
		out[e] = visible[i]
		if visible[i] {
			shown++
		}
	}
	span.SetAttributes(attribute.String("mcpgate.policy.phase", policy.PhaseList), attribute.Int("mcpgate.policy.entries", len(keys)),
		attribute.Int("mcpgate.policy.visible", shown))
	f.g.opts.Metrics.RecordPolicyDecision(ctx, policy.PhaseList, shown > 0, time.Since(start))
	return out
}
