package gateway

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// baseInput is the part of a policy input that comes from the caller, and
// the time of the decision.
func (g *Gateway) baseInput(id *authn.Identity, phase, method string) *policy.Input {
	in := &policy.Input{Phase: phase, Method: method, User: policy.User{Groups: []string{}, Claims: map[string]any{}},
		Token: policy.Token{Scopes: []string{}, Aud: []string{}}, Request: policy.Request{Time: time.Now().UTC()}}
	if id != nil {
		in.User = policy.User{Sub: id.Subject, Iss: id.Issuer, Email: id.Email, Name: id.Name,
			Groups: nonNil(id.Groups), Claims: id.Claims, Memo: g.keys.of(id).user}
		in.Token = policy.Token{Scopes: nonNil(id.Scopes), ClientID: id.ClientID, Aud: nonNil(id.Audience)}
	}
	return in
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (g *Gateway) serverInput(u *upstream) *policy.Server {
	labels := u.cfg.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return &policy.Server{Name: u.cfg.Name, Labels: labels}
}

func toolInput(e *toolEntry) *policy.Tool {
	t := &policy.Tool{Name: e.tool.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name, Description: e.tool.Description,
		Approval: e.pin.approvalOf()}
	if a := e.tool.Annotations; a != nil {
		t.Annotations = &policy.Annotations{ReadOnlyHint: &a.ReadOnlyHint, DestructiveHint: a.DestructiveHint,
			IdempotentHint: &a.IdempotentHint, OpenWorldHint: a.OpenWorldHint, Title: a.Title}
	}
	return t
}

func promptInput(e *promptEntry) *policy.Prompt {
	return &policy.Prompt{Name: e.prompt.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name, Description: e.prompt.Description,
		Approval: e.pin.approvalOf()}
}

func resourceTarget(e *resourceEntry) *policy.Resource {
	return &policy.Resource{URI: e.resource.URI, Name: e.resource.Name, Server: e.up.cfg.Name, MIMEType: e.resource.MIMEType,
		Description: e.resource.Description, Approval: e.pin.approvalOf()}
}

func templateTarget(e *templateEntry) *policy.Resource {
	return &policy.Resource{URITemplate: e.template.URITemplate, Name: e.template.Name, Server: e.up.cfg.Name, MIMEType: e.template.MIMEType,
		Description: e.template.Description, Approval: e.pin.approvalOf()}
}

// targets resolves the target of a call-phase request: a view resolves it
// among what it shows, exactly as the SDK will dispatch it; the catalog
// (for the step-up look ahead) among everything.
type targets interface {
	tool(name string) *toolEntry
	prompt(name string) *promptEntry
	resource(uri string) *resourceEntry
	template(uri string) *templateEntry              // the template a URI matches
	templateByURI(uriTemplate string) *templateEntry // a template by its URI template
}

// errNoTarget means the request names nothing the caller can reach; it is
// answered as not found, and nothing is forwarded.
var errNoTarget = errors.New("no such target")

// callInput builds the call-phase input of a request the policy decides,
// with the catalogue entries of its server. It returns errNoTarget for
// targets t does not resolve, and another error for a request that cannot
// be decided (arguments the gateway cannot read): both are refused, never
// forwarded undecided.
//
// It also returns the target's key for the decision cache: a name of
// everything in the input that is neither the caller nor a per-call field
// (the method, the server, the target and the digest of its upstream
// definition): equal keys, equal target fields.
func (g *Gateway) callInput(id *authn.Identity, method string, params mcp.Params, t targets) (*policy.Input, string, error) {
	in, key, err := g.targetInput(id, method, params, t)
	if err != nil {
		return nil, "", err
	}
	in.Catalogue = g.scopes[in.Server.Name]
	return in, callTarget(method, in.Server.Name, key), nil
}

// callTarget is the decision cache's target of a call-phase request: the
// method, the server and the target's key (its name and definition's
// digest).
func callTarget(method, server, key string) string {
	return method + "\x00" + server + "\x00" + key
}

// toolKey is targetInput's key of a tool.
// The approval is part of it: a re-approval changes the input, not the
// definition.
func toolKey(e *toolEntry) string {
	return e.tool.Name + "\x00" + e.digest + "\x00" + e.pin.approvalOf()
}

// targetInput is callInput without the catalogue, and with the key of the
// target alone.
func (g *Gateway) targetInput(id *authn.Identity, method string, params mcp.Params, t targets) (*policy.Input, string, error) {
	in := g.baseInput(id, policy.PhaseCall, method)
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		e := t.tool(p.Name)
		if e == nil {
			return nil, "", errNoTarget
		}
		args, err := rawArguments(p.Arguments)
		if err != nil {
			return nil, "", err
		}
		in.Server, in.Tool, in.Arguments, in.ArgumentsSize = g.serverInput(e.up), toolInput(e), args, len(p.Arguments)
		return in, toolKey(e), nil
	case *mcp.GetPromptParams:
		e := t.prompt(p.Name)
		if e == nil {
			return nil, "", errNoTarget
		}
		in.Server = g.serverInput(e.up)
		in.Prompt = promptInput(e)
		in.Arguments, in.ArgumentsSize = stringArguments(p.Arguments)
		return in, e.prompt.Name + "\x00" + e.digest + "\x00" + e.pin.approvalOf(), nil
	case *mcp.ReadResourceParams:
		return g.resourceInput(in, t, p.URI)
	case *mcp.SubscribeParams:
		return g.resourceInput(in, t, p.URI)
	case *mcp.CompleteParams:
		return g.completionInput(in, t, p)
	}
	return nil, "", errNoTarget
}

// absentInput is the call-phase input of a tool call or prompt whose name
// belongs to a server that has no features right now (it is down), or
// errNoTarget.
func (g *Gateway) absentInput(id *authn.Identity, method string, params mcp.Params) (*policy.Input, error) {
	in := g.baseInput(id, policy.PhaseCall, method)
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		u, rest := g.catalog().absentTarget(p.Name)
		if u == nil {
			return nil, errNoTarget
		}
		args, err := rawArguments(p.Arguments)
		if err != nil {
			return nil, err
		}
		in.Server, in.Arguments, in.ArgumentsSize = g.serverInput(u), args, len(p.Arguments)
		in.Tool = &policy.Tool{Name: p.Name, UpstreamName: rest, Server: u.cfg.Name}
	case *mcp.GetPromptParams:
		u, rest := g.catalog().absentTarget(p.Name)
		if u == nil {
			return nil, errNoTarget
		}
		in.Server = g.serverInput(u)
		in.Arguments, in.ArgumentsSize = stringArguments(p.Arguments)
		in.Prompt = &policy.Prompt{Name: p.Name, UpstreamName: rest, Server: u.cfg.Name}
	default:
		return nil, errNoTarget
	}
	in.Catalogue = g.scopes[in.Server.Name]
	return in, nil
}

// callParams are the params types of the methods decided in the call phase.
var callParams = map[string]func() mcp.Params{
	"tools/call":          func() mcp.Params { return new(mcp.CallToolParamsRaw) },
	"prompts/get":         func() mcp.Params { return new(mcp.GetPromptParams) },
	"resources/read":      func() mcp.Params { return new(mcp.ReadResourceParams) },
	"resources/subscribe": func() mcp.Params { return new(mcp.SubscribeParams) },
	"completion/complete": func() mcp.Params { return new(mcp.CompleteParams) },
}

func (g *Gateway) resourceInput(in *policy.Input, t targets, uri string) (*policy.Input, string, error) {
	var res *policy.Resource
	var u *upstream
	var digest string
	if e := t.resource(uri); e != nil {
		u, res, digest = e.up, resourceTarget(e), e.digest
	} else if e := t.template(uri); e != nil {
		u, res, digest = e.up, templateTarget(e), e.digest
		res.URI = uri
	} else {
		return nil, "", errNoTarget
	}
	in.Server, in.Resource = g.serverInput(u), res
	return in, uri + "\x00" + digest + "\x00" + res.Approval, nil
}

func (g *Gateway) completionInput(in *policy.Input, t targets, p *mcp.CompleteParams) (*policy.Input, string, error) {
	if p == nil || p.Ref == nil {
		return nil, "", errNoTarget
	}
	switch p.Ref.Type {
	case "ref/prompt":
		e := t.prompt(p.Ref.Name)
		if e == nil {
			return nil, "", errNoTarget
		}
		in.Server = g.serverInput(e.up)
		in.Prompt = promptInput(e)
	case "ref/resource":
		if e := t.templateByURI(p.Ref.URI); e != nil {
			in.Server = g.serverInput(e.up)
			in.Resource = templateTarget(e)
		} else if e := t.resource(p.Ref.URI); e != nil {
			in.Server = g.serverInput(e.up)
			in.Resource = resourceTarget(e)
		} else {
			return nil, "", errNoTarget
		}
	default:
		return nil, "", errNoTarget
	}
	in.Arguments = map[string]any{p.Argument.Name: p.Argument.Value}
	return in, "", nil // the argument is per call: decided every time
}

// identityOf returns the verified caller of an MCP request.
func identityOf(req mcp.Request) *authn.Identity {
	extra := req.GetExtra()
	if extra == nil {
		return nil
	}
	return authn.IdentityFromTokenInfo(extra.TokenInfo)
}

// rawArguments decodes tool arguments for the policy. Arguments the
// gateway cannot read as one JSON object (not an object, or a value such as
// 1e999 that does not decode) are refused: the policy must see what the
// upstream will get.
func rawArguments(raw json.RawMessage) (map[string]any, error) {
	args := map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return args, nil
	}
	if err := json.Unmarshal(raw, &args); err != nil || args == nil {
		return nil, errors.New("tool arguments must be a JSON object the gateway can read")
	}
	return args, nil
}

// stringArguments are a prompt's arguments for the policy, and their size.
func stringArguments(m map[string]string) (map[string]any, int) {
	out, size := make(map[string]any, len(m)), 0
	for k, v := range m {
		out[k] = v
		size += len(k) + len(v)
	}
	return out, size
}

// fillRequest adds what the request and its MCP session tell: the client's
// address, session id, protocol version and the client's self-description.
func fillRequest(in *policy.Input, req mcp.Request) {
	if extra := req.GetExtra(); extra != nil && extra.Header != nil {
		in.Request.RemoteAddr = extra.Header.Get(clientAddrHeader)
	}
	// A 2026-07-28 request on the fast path has no session: what it
	// says of itself is in its _meta.
	if ss, _ := req.GetSession().(*mcp.ServerSession); ss != nil {
		in.Request.SessionID = ss.ID()
		if p := ss.InitializeParams(); p != nil {
			in.Request.ProtocolVersion = p.ProtocolVersion
			if p.ClientInfo != nil {
				in.Client = &policy.Client{Name: p.ClientInfo.Name, Version: p.ClientInfo.Version}
			}
		}
	}
	if meta := paramsMeta(req); meta != nil {
		if v, ok := meta[mcp.MetaKeyProtocolVersion].(string); ok {
			in.Request.ProtocolVersion = v
		}
		if ci, ok := meta[mcp.MetaKeyClientInfo].(map[string]any); ok {
			name, _ := ci["name"].(string)
			version, _ := ci["version"].(string)
			in.Client = &policy.Client{Name: name, Version: version}
		}
	}
}
