package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/approval"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Approval (issue #16, docs/approval.md): every entry of an upstream whose
// approval mode is not off carries its standing against the lock file.
// In mode enforce an entry that is not approved (modified or new) is
// quarantined: view.sync hides it unless the policy's list decision for
// it allows it with allow_unapproved, and decide refuses it on call unless
// the call decision does. The lock is replaced as a whole (SetLock); the
// upstreams' entries are then pinned anew and the catalog rebuilt.

// pin is an entry's standing against the lock file.
type pin struct {
	// item is the entry's definition as the lock pins it: zero when
	// approval is off for the server (nothing is compared).
	item approval.Item
	// state is "" when approval is off for the server.
	state approval.State
	// quarantined: mode enforce and not approved.
	quarantined bool
}

// approvalOf is the entry's standing as the policy input says it ("" when
// approval is off).
func (p pin) approvalOf() string { return string(p.state) }

// against is p's standing against s under mode.
func (p pin) against(s *approval.ServerLock, mode string) pin {
	if mode == config.ApprovalOff {
		return pin{}
	}
	p.state = s.State(p.item)
	p.quarantined = mode == config.ApprovalEnforce && p.state != approval.Approved
	return p
}

// itemOf is the approval item of an upstream definition (raw, as listed),
// when approval is on for u. A definition that cannot be made canonical is
// never approved: its item has no digest.
func (u *upstream) itemOf(kind approval.Kind, name string, raw []byte) approval.Item {
	if u.approvalMode == config.ApprovalOff {
		return approval.Item{}
	}
	it, err := approval.NewItem(kind, json.RawMessage(raw))
	if err != nil {
		u.log.Warn("approval: a definition cannot be pinned; it is never approved", "kind", kind.Singular(), "name", name, "err", err)
		return approval.Item{Kind: kind, Name: name}
	}
	return it
}

// pinLocked pins f's entries against the current lock, copying each entry
// whose standing changed (entries are immutable; a view re-registers a
// copied one), and returns what the operators must hear of: the entries
// of f that are not approved and were not so in old (new to the gateway,
// or changed since), with their diff against the lock. u.mu is held.
func (u *upstream) pinLocked(f, old *features) []approval.Change {
	if u.approvalMode == config.ApprovalOff || f == nil {
		return nil
	}
	s := u.lock.Load().Server(u.cfg.Name)
	repin(f.tools, func(e *toolEntry) *pin { return &e.pin }, s, u.approvalMode)
	repin(f.prompts, func(e *promptEntry) *pin { return &e.pin }, s, u.approvalMode)
	repin(f.resources, func(e *resourceEntry) *pin { return &e.pin }, s, u.approvalMode)
	repin(f.templates, func(e *templateEntry) *pin { return &e.pin }, s, u.approvalMode)
	known := map[approval.Key]pin{}
	if old != nil {
		for _, p := range old.pins() {
			known[approval.Key{Kind: p.item.Kind, Name: p.item.Name}] = p
		}
	}
	var items []approval.Item
	for _, p := range f.pins() {
		items = append(items, p.item)
	}
	var report []approval.Change
	for _, c := range approval.Compare(s, items) {
		if c.State == approval.Removed {
			continue // an item gone upstream simply leaves
		}
		was, seen := known[approval.Key{Kind: c.Kind, Name: c.Name}]
		if seen && was.state != approval.Approved && was.state != "" && string(was.item.Definition) == string(c.Listed) {
			continue // reported when it was found
		}
		report = append(report, c)
	}
	return report
}

// pins are the standings of every entry of f.
func (f *features) pins() []pin {
	out := make([]pin, 0, len(f.tools)+len(f.prompts)+len(f.resources)+len(f.templates))
	for _, e := range f.tools {
		out = append(out, e.pin)
	}
	for _, e := range f.prompts {
		out = append(out, e.pin)
	}
	for _, e := range f.resources {
		out = append(out, e.pin)
	}
	for _, e := range f.templates {
		out = append(out, e.pin)
	}
	return out
}

func repin[E any](entries []*E, pinOf func(*E) *pin, s *approval.ServerLock, mode string) {
	for i, e := range entries {
		p := pinOf(e)
		np := p.against(s, mode)
		if np.state == p.state && np.quarantined == p.quarantined {
			continue
		}
		c := *e
		*pinOf(&c) = np
		entries[i] = &c
	}
}

// maxReportedDiff bounds the diff a security event carries: an upstream
// may list anything.
const maxReportedDiff = 8 << 10

// reportPins tells the operators of items that are not approved: one
// security event in the log per item, with its diff against the lock,
// the mcpgate.approval.changes metric, and a span with one event per
// item. Called without u.mu.
func (u *upstream) reportPins(changes []approval.Change) {
	if len(changes) == 0 {
		return
	}
	ctx, span := u.opts.tracer().Start(context.Background(), "mcpgate.approval.check",
		trace.WithAttributes(attribute.String("mcpgate.server", u.cfg.Name), attribute.String("mcpgate.approval.mode", u.approvalMode)))
	defer span.End()
	action := "served"
	if u.approvalMode == config.ApprovalEnforce {
		action = "quarantined"
	}
	for _, c := range changes {
		diff := c.Diff("  ")
		if len(diff) > maxReportedDiff {
			diff = diff[:maxReportedDiff] + "… (cut; mcpgate approve --diff shows it whole)"
		}
		u.log.Warn(fmt.Sprintf("approval: %s %q of server %q is %s since approval; %s until it is approved (mcpgate approve)",
			c.Kind.Singular(), c.Name, u.cfg.Name, c.State, action),
			"event", "approval.unapproved", "kind", c.Kind.Singular(), "name", c.Name, "state", string(c.State),
			"mode", u.approvalMode, "action", action, "diff", diff)
		u.opts.Metrics.RecordApprovalChange(ctx, u.cfg.Name, c.Kind.Singular(), string(c.State), action)
		span.AddEvent("approval.unapproved", trace.WithAttributes(attribute.String("mcpgate.approval.kind", c.Kind.Singular()),
			attribute.String("mcpgate.approval.name", c.Name), attribute.String("mcpgate.approval.state", string(c.State)),
			attribute.String("mcpgate.approval.action", action)))
	}
}

// unapproved lists f's entries that are not approved, as /readyz shows
// them: "tool read_note (modified)".
func (f *features) unapproved() (quarantined, served []string) {
	for _, p := range f.pins() {
		if p.state == "" || p.state == approval.Approved {
			continue
		}
		s := fmt.Sprintf("%s %s (%s)", p.item.Kind.Singular(), p.item.Name, p.state)
		if p.quarantined {
			quarantined = append(quarantined, s)
		} else {
			served = append(served, s)
		}
	}
	return quarantined, served
}

// SetLock replaces the lock file the upstreams are compared with (a
// re-approval, read by the caller when the file changed): every entry is
// pinned anew, what is now approved comes back, and the catalog is
// rebuilt so views and sessions hear of it.
func (g *Gateway) SetLock(l approval.Loaded) {
	if l.Lock == nil {
		l.Lock = &approval.Lock{}
	}
	g.lock.Store(l.Lock)
	g.lockStatus.Store(&LockStatus{File: g.cfg.Approval.LockFile, Revision: l.Revision, LoadedAt: time.Now().UTC()})
	g.log.Info("approval: lock file loaded", "file", g.cfg.Approval.LockFile, "revision", l.Revision)
	for _, u := range g.ups {
		u.mu.Lock()
		var report []approval.Change
		if cur := u.features; cur != nil {
			f := cur.clone()
			report = u.pinLocked(f, cur)
			u.features = f
		}
		u.mu.Unlock()
		u.reportPins(report)
	}
	g.rebuild()
}

// LockFailed notes a change of the lock file that did not load: the last
// good lock stays, and /readyz says why.
func (g *Gateway) LockFailed(err error) {
	g.log.Error("approval: the changed lock file does not load; the last good one stays", "file", g.cfg.Approval.LockFile, "err", err)
	st := LockStatus{File: g.cfg.Approval.LockFile}
	if cur := g.lockStatus.Load(); cur != nil {
		st = *cur
	}
	st.Error = err.Error()
	g.lockStatus.Store(&st)
}

// LockStatus is /readyz's account of the lock file (with readyz_detail).
type LockStatus struct {
	File     string    `json:"file"`
	Revision string    `json:"revision"` // of the lock in use
	LoadedAt time.Time `json:"loaded_at"`
	// Error is why the file's latest change did not load (the lock in use
	// is the last good one).
	Error string `json:"error,omitempty"`
}

// clone copies f's lists (not its entries).
func (f *features) clone() *features {
	c := *f
	c.tools = append([]*toolEntry(nil), f.tools...)
	c.prompts = append([]*promptEntry(nil), f.prompts...)
	c.resources = append([]*resourceEntry(nil), f.resources...)
	c.templates = append([]*templateEntry(nil), f.templates...)
	return &c
}

// targetApproval is the approval of in's target ("" when off).
func targetApproval(in *policy.Input) string {
	switch {
	case in.Tool != nil:
		return in.Tool.Approval
	case in.Prompt != nil:
		return in.Prompt.Approval
	case in.Resource != nil:
		return in.Resource.Approval
	}
	return ""
}

// quarantined reports whether in's target awaits approval on a server in
// mode enforce.
func (g *Gateway) quarantined(in *policy.Input) bool {
	a := targetApproval(in)
	if a == "" || a == policy.ApprovalApproved || in.Server == nil {
		return false
	}
	return g.approvalModes[in.Server.Name] == config.ApprovalEnforce
}

// awaitsApproval is the answer to a call of a quarantined target that
// the policy would allow were it approved: a denial (CodeDenied) saying
// why, with the target's approval in its data.
func awaitsApproval(in *policy.Input, d policy.Decision) error {
	kind, name := "tool", ""
	switch {
	case in.Tool != nil:
		name = in.Tool.Name
	case in.Prompt != nil:
		kind, name = "prompt", in.Prompt.Name
	case in.Resource != nil:
		kind, name = "resource", in.Resource.URI
	}
	state := targetApproval(in)
	why := "it is new since the security team approved the server"
	if state == policy.ApprovalModified {
		why = "its definition changed since the security team approved it"
	}
	msg := fmt.Sprintf("mcpgate: %s %q of server %q awaits approval: %s; it is quarantined until it is approved (ask your security team; mcpgate approve)",
		kind, name, in.Server.Name, why)
	data, _ := json.Marshal(map[string]any{"decision_id": d.ID, "approval": state, "reasons": []string{strings.TrimPrefix(msg, "mcpgate: ")}})
	return &jsonrpc.Error{Code: CodeDenied, Message: msg, Data: data}
}

// countUnapprovedUse counts an allowed call of a target the lock does not
// approve (mcpgate.approval.unapproved_uses): in mode warn, or let through
// by the policy's allow_unapproved.
func (g *Gateway) countUnapprovedUse(ctx context.Context, in *policy.Input, d policy.Decision) {
	a := targetApproval(in)
	if a == "" || a == policy.ApprovalApproved || in.Server == nil {
		return
	}
	kind := "tool"
	switch {
	case in.Prompt != nil:
		kind = "prompt"
	case in.Resource != nil:
		kind = "resource"
	}
	reason := telemetry.ApprovalUseWarn
	if g.quarantined(in) {
		reason = telemetry.ApprovalUsePolicy
	}
	g.opts.Metrics.RecordApprovalUse(ctx, in.Server.Name, kind, reason)
}

// Listing returns what the upstream server lists now, as the lock file
// pins it (mcpgate approve): every tool, prompt, resource and resource
// template by the name the upstream gives it, whatever its approval mode.
// It fails when the server has listed nothing yet, with why (its state
// and last error).
func (g *Gateway) Listing(server string) ([]approval.Item, error) {
	_, f, err := g.listed(server)
	if err != nil {
		return nil, err
	}
	var items []approval.Item
	add := func(kind approval.Kind, raw []byte) error {
		it, err := approval.NewItem(kind, json.RawMessage(raw))
		if err != nil {
			return fmt.Errorf("server %q: %w", server, err)
		}
		items = append(items, it)
		return nil
	}
	for _, e := range f.tools {
		err = errors.Join(err, add(approval.KindTool, e.raw))
	}
	for _, e := range f.prompts {
		err = errors.Join(err, add(approval.KindPrompt, e.raw))
	}
	for _, e := range f.resources {
		err = errors.Join(err, add(approval.KindResource, e.raw))
	}
	for _, e := range f.templates {
		err = errors.Join(err, add(approval.KindTemplate, e.raw))
	}
	// What the gateway leaves out (f.skipped) is never served: there
	// is nothing of it to pin.
	return items, err
}
