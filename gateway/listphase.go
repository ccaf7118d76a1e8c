package gateway

import (
	"context"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
)

// policyFilter is the list phase for one identity: each catalog entry is
// decided once per (identity, policy revision, catalog revision), when the
// view is synced, never per list request.
type policyFilter struct {
	g  *Gateway
	id *authn.Identity
}

func (f *policyFilter) decide(target func(*policy.Input)) bool {
	in := baseInput(f.id, policy.PhaseList, "")
	target(in)
	return f.g.decideObserved(context.Background(), in).Allow
}

func (f *policyFilter) Tool(e *toolEntry) bool {
	return f.decide(func(in *policy.Input) {
		in.Method, in.Server, in.Tool = "tools/list", f.g.serverInput(e.up), toolInput(e)
	})
}

func (f *policyFilter) Prompt(e *promptEntry) bool {
	return f.decide(func(in *policy.Input) {
		in.Method, in.Server = "prompts/list", f.g.serverInput(e.up)
		in.Prompt = &policy.Prompt{Name: e.prompt.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name, Description: e.prompt.Description}
	})
}

func (f *policyFilter) Resource(e *resourceEntry) bool {
	return f.decide(func(in *policy.Input) {
		in.Method, in.Server = "resources/list", f.g.serverInput(e.up)
		in.Resource = &policy.Resource{URI: e.resource.URI, Name: e.resource.Name, Server: e.up.cfg.Name, MIMEType: e.resource.MIMEType}
	})
}

func (f *policyFilter) ResourceTemplate(e *templateEntry) bool {
	return f.decide(func(in *policy.Input) {
		in.Method, in.Server = "resources/templates/list", f.g.serverInput(e.up)
		in.Resource = &policy.Resource{URITemplate: e.template.URITemplate, Name: e.template.Name, Server: e.up.cfg.Name, MIMEType: e.template.MIMEType}
	})
}
