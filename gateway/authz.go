package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Authorizer decides every request and every list entry; policy.Engine is
// the implementation. Decide and Check must deny on any failure; Decide
// records the decision (decision log), Check only looks ahead.
type Authorizer interface {
	Decide(ctx context.Context, in *policy.Input) policy.Decision
	Check(ctx context.Context, in *policy.Input) policy.Decision
	Revision() string
}

// CodeDenied is the JSON-RPC error code of a request the policy denied.
const CodeDenied = -32001

// volatileClaims change with every token of the same caller and must not
// split a caller's view.
var volatileClaims = map[string]bool{"exp": true, "iat": true, "nbf": true, "jti": true, "auth_time": true, "at_hash": true, "c_hash": true, "nonce": true, "sid": true}

// identityKey is the view key of an identity: a hash of everything policy
// may look at except what changes from one token to the next.
func identityKey(id *authn.Identity) string {
	if id == nil {
		return "anonymous"
	}
	claims := make(map[string]any, len(id.Claims))
	for k, v := range id.Claims {
		if !volatileClaims[k] {
			claims[k] = v
		}
	}
	data, _ := json.Marshal([]any{id.Issuer, id.Subject, id.Email, id.Name, id.Groups, id.Scopes, id.ClientID, id.Audience, claims})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// baseInput is the part of a policy input that comes from the caller.
func baseInput(id *authn.Identity, phase, method string) *policy.Input {
	in := &policy.Input{Phase: phase, Method: method, User: policy.User{Groups: []string{}, Claims: map[string]any{}},
		Token: policy.Token{Scopes: []string{}, Aud: []string{}}}
	if id != nil {
		in.User = policy.User{Sub: id.Subject, Iss: id.Issuer, Email: id.Email, Name: id.Name,
			Groups: nonNil(id.Groups), Claims: id.Claims}
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
	t := &policy.Tool{Name: e.tool.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name, Description: e.tool.Description}
	if a := e.tool.Annotations; a != nil {
		t.Annotations = &policy.Annotations{ReadOnlyHint: &a.ReadOnlyHint, DestructiveHint: a.DestructiveHint,
			IdempotentHint: &a.IdempotentHint, OpenWorldHint: a.OpenWorldHint, Title: a.Title}
	}
	return t
}

// policyFilter is the list phase for one identity: each catalog entry is
// decided once per (identity, policy revision, catalog revision), when the
// view is synced, never per list request.
type policyFilter struct {
	g  *Gateway
	id *authn.Identity
}

func (f *policyFilter) decide(target func(*policy.Input)) bool {
	in := baseInput(f.id, policy.PhaseList, "")
	in.Request.Time = time.Now().UTC()
	target(in)
	return f.g.opts.Authorizer.Decide(context.Background(), in).Allow
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

// callInput builds the call-phase input of a request the policy decides, or
// returns nil for requests it does not (and for unknown targets, which the
// SDK answers as unknown).
func (g *Gateway) callInput(id *authn.Identity, method string, params mcp.Params) *policy.Input {
	cat := g.catalog()
	var in *policy.Input
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		e, ok := cat.tools[p.Name]
		if !ok {
			return nil
		}
		in = baseInput(id, policy.PhaseCall, method)
		in.Server, in.Tool = g.serverInput(e.up), toolInput(e)
		in.Arguments = rawArguments(p.Arguments)
	case *mcp.GetPromptParams:
		e, ok := cat.prompts[p.Name]
		if !ok {
			return nil
		}
		in = baseInput(id, policy.PhaseCall, method)
		in.Server = g.serverInput(e.up)
		in.Prompt = &policy.Prompt{Name: e.prompt.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name, Description: e.prompt.Description}
		in.Arguments = stringArguments(p.Arguments)
	case *mcp.ReadResourceParams:
		in = g.resourceInput(cat, id, method, p.URI)
	case *mcp.SubscribeParams:
		in = g.resourceInput(cat, id, method, p.URI)
	case *mcp.CompleteParams:
		in = g.completionInput(cat, id, method, p)
	}
	if in != nil {
		in.Request.Time = time.Now().UTC()
	}
	return in
}

// callParams are the params types of the methods decided in the call phase.
var callParams = map[string]func() mcp.Params{
	"tools/call":          func() mcp.Params { return new(mcp.CallToolParamsRaw) },
	"prompts/get":         func() mcp.Params { return new(mcp.GetPromptParams) },
	"resources/read":      func() mcp.Params { return new(mcp.ReadResourceParams) },
	"resources/subscribe": func() mcp.Params { return new(mcp.SubscribeParams) },
	"completion/complete": func() mcp.Params { return new(mcp.CompleteParams) },
}

// peekCall reads a POST body and, for a call-phase request, builds its
// input. It returns a body that replays what was read.
func (g *Gateway) peekCall(r *http.Request, id *authn.Identity) (io.ReadCloser, *policy.Input) {
	limit := int64(g.cfg.MaxRequestBytes)
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	body := readCloser{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
	if err != nil || int64(len(data)) > limit {
		return body, nil
	}
	var msg struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(data, &msg) != nil {
		return body, nil
	}
	mk, ok := callParams[msg.Method]
	if !ok {
		return body, nil
	}
	params := mk()
	if json.Unmarshal(msg.Params, params) != nil {
		return body, nil
	}
	return body, g.callInput(id, msg.Method, params)
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (g *Gateway) resourceInput(cat *catalog, id *authn.Identity, method, uri string) *policy.Input {
	var u *upstream
	res := &policy.Resource{URI: uri}
	if e, ok := cat.resources[uri]; ok {
		u, res.Name, res.MIMEType = e.up, e.resource.Name, e.resource.MIMEType
	} else if e := cat.templateFor(uri, func(*templateEntry) bool { return true }); e != nil {
		u, res.URITemplate, res.Name = e.up, e.template.URITemplate, e.template.Name
	}
	if u == nil {
		return nil
	}
	res.Server = u.cfg.Name
	in := baseInput(id, policy.PhaseCall, method)
	in.Server, in.Resource = g.serverInput(u), res
	return in
}

func (g *Gateway) completionInput(cat *catalog, id *authn.Identity, method string, p *mcp.CompleteParams) *policy.Input {
	if p == nil || p.Ref == nil {
		return nil
	}
	var in *policy.Input
	switch p.Ref.Type {
	case "ref/prompt":
		e, ok := cat.prompts[p.Ref.Name]
		if !ok {
			return nil
		}
		in = baseInput(id, policy.PhaseCall, method)
		in.Server = g.serverInput(e.up)
		in.Prompt = &policy.Prompt{Name: e.prompt.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name}
	case "ref/resource":
		e, ok := cat.templates[p.Ref.URI]
		if !ok {
			return nil
		}
		in = baseInput(id, policy.PhaseCall, method)
		in.Server = g.serverInput(e.up)
		in.Resource = &policy.Resource{URITemplate: e.template.URITemplate, Name: e.template.Name, Server: e.up.cfg.Name}
	default:
		return nil
	}
	in.Arguments = map[string]any{p.Argument.Name: p.Argument.Value}
	return in
}

// identityOf returns the verified caller of an MCP request.
func identityOf(req mcp.Request) *authn.Identity {
	extra := req.GetExtra()
	if extra == nil || extra.TokenInfo == nil {
		return nil
	}
	id, _ := extra.TokenInfo.Extra["identity"].(*authn.Identity)
	return id
}

func rawArguments(raw json.RawMessage) map[string]any {
	args := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &args); err != nil || args == nil {
			// Not an object: the policy sees it under "_" and can refuse it.
			var v any
			_ = json.Unmarshal(raw, &v)
			args = map[string]any{"_": v}
		}
	}
	return args
}

func stringArguments(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// fillRequest adds what the MCP session knows: session id, protocol version
// and the client's self-description.
func fillRequest(in *policy.Input, req mcp.Request) {
	ss, _ := req.GetSession().(*mcp.ServerSession)
	if ss == nil {
		return
	}
	in.Request.SessionID = ss.ID()
	if p := ss.InitializeParams(); p != nil {
		in.Request.ProtocolVersion = p.ProtocolVersion
		if p.ClientInfo != nil {
			in.Client = &policy.Client{Name: p.ClientInfo.Name, Version: p.ClientInfo.Version}
		}
	}
	if meta := req.GetParams().GetMeta(); meta != nil {
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

// authorize is the call phase: the receiving middleware of every view. A
// denied request never reaches an upstream; the client gets an MCP error
// carrying the policy's reasons. A target the caller cannot see is decided
// like any other, so hiding is never the only control.
func (g *Gateway) authorize(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		in := g.callInput(identityOf(req), method, req.GetParams())
		if in == nil {
			return next(ctx, method, req)
		}
		fillRequest(in, req)
		d := g.opts.Authorizer.Decide(ctx, in)
		if !d.Allow {
			return nil, deniedError(d)
		}
		return next(ctx, method, req)
	}
}

func deniedError(d policy.Decision) error {
	reasons := d.Reasons
	if len(reasons) == 0 {
		reasons = []string{"denied by policy"}
	}
	data, _ := json.Marshal(map[string]any{"decision_id": d.ID, "reasons": reasons})
	return &jsonrpc.Error{Code: CodeDenied, Message: "mcpgate: denied by policy: " + strings.Join(reasons, "; "), Data: data}
}

// missingScopes returns the scopes a decision requires that the token lacks.
func missingScopes(d policy.Decision, have []string) []string {
	var missing []string
	for _, s := range d.RequiredScopes {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// stepUpChallenge answers a request whose decision needs scopes the token
// does not carry with HTTP 403 insufficient_scope, before the SDK handles
// it, so clients can ask for the scopes and retry (RFC 6750 §3.1, MCP
// scope step-up). It peeks at the JSON-RPC body; the body is passed on
// unchanged. Requests it cannot read are left to the SDK.
func (g *Gateway) stepUpChallenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := authn.FromContext(r.Context())
		if r.Method != http.MethodPost || !ok || g.opts.ScopeChallenge == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, in := g.peekCall(r, id)
		r.Body = body
		if in != nil {
			// A look ahead: the MCP layer decides (and logs) the request
			// again with what only the session knows. A step-up answer is
			// the decision of record, so it is decided again and logged.
			d := g.opts.Authorizer.Check(r.Context(), in)
			if missing := missingScopes(d, id.Scopes); !d.Allow && len(missing) > 0 {
				d = g.opts.Authorizer.Decide(r.Context(), in)
				if missing = missingScopes(d, id.Scopes); !d.Allow && len(missing) > 0 {
					g.opts.ScopeChallenge(w, d.RequiredScopes, fmt.Sprintf("%s needs scope %s", in.Method, strings.Join(missing, " ")))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
