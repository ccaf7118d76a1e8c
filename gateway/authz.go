package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
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
var volatileClaims = map[string]bool{"exp": true, "iat": true, "nbf": true, "jti": true, "auth_time": true, "at_hash": true,
	"c_hash": true, "nonce": true, "sid": true,
	"session_state": true,                          // Keycloak
	"uti":           true, "rh": true, "aio": true, // Entra ID
}

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
	data, err := json.Marshal([]any{id.Issuer, id.Subject, id.Email, id.Name, id.Groups, id.Scopes, id.ClientID, id.Audience, claims})
	if err != nil {
		// Never a shared key: a view of its own, for this request only.
		return "unkeyed:" + rand.Text()
	}
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
	return f.g.decideObserved(context.Background(), in).Allow
}

// decideObserved is the decision of record, with its span (phase, allow,
// policy revision, decision id: the id of the decision-log line) and its
// metrics.
func (g *Gateway) decideObserved(ctx context.Context, in *policy.Input) policy.Decision {
	ctx, span := g.tracer.Start(ctx, "mcpgate.policy "+in.Phase)
	defer span.End()
	start := time.Now()
	d := g.opts.Authorizer.Decide(ctx, in)
	span.SetAttributes(attribute.String("mcpgate.policy.phase", in.Phase), attribute.Bool("mcpgate.policy.allow", d.Allow),
		attribute.String("mcpgate.policy.revision", d.Revision), attribute.String("mcpgate.policy.decision_id", d.ID))
	g.opts.Metrics.RecordPolicyDecision(ctx, in.Phase, d.Allow, time.Since(start))
	return d
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

// callInput builds the call-phase input of a request the policy decides.
// It returns errNoTarget for targets t does not resolve, and another error
// for a request that cannot be decided (arguments the gateway cannot read):
// both are refused, never forwarded undecided.
func (g *Gateway) callInput(id *authn.Identity, method string, params mcp.Params, t targets) (*policy.Input, error) {
	in := baseInput(id, policy.PhaseCall, method)
	in.Request.Time = time.Now().UTC()
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		e := t.tool(p.Name)
		if e == nil {
			return nil, errNoTarget
		}
		args, err := rawArguments(p.Arguments)
		if err != nil {
			return nil, err
		}
		in.Server, in.Tool, in.Arguments = g.serverInput(e.up), toolInput(e), args
	case *mcp.GetPromptParams:
		e := t.prompt(p.Name)
		if e == nil {
			return nil, errNoTarget
		}
		in.Server = g.serverInput(e.up)
		in.Prompt = &policy.Prompt{Name: e.prompt.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name, Description: e.prompt.Description}
		in.Arguments = stringArguments(p.Arguments)
	case *mcp.ReadResourceParams:
		return g.resourceInput(in, t, p.URI)
	case *mcp.SubscribeParams:
		return g.resourceInput(in, t, p.URI)
	case *mcp.CompleteParams:
		return g.completionInput(in, t, p)
	default:
		return nil, errNoTarget
	}
	return in, nil
}

// absentInput is the call-phase input of a tool call or prompt whose name
// belongs to a server that has no features right now (it is down), or
// errNoTarget.
func (g *Gateway) absentInput(id *authn.Identity, method string, params mcp.Params) (*policy.Input, error) {
	in := baseInput(id, policy.PhaseCall, method)
	in.Request.Time = time.Now().UTC()
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
		in.Server, in.Arguments = g.serverInput(u), args
		in.Tool = &policy.Tool{Name: p.Name, UpstreamName: rest, Server: u.cfg.Name}
	case *mcp.GetPromptParams:
		u, rest := g.catalog().absentTarget(p.Name)
		if u == nil {
			return nil, errNoTarget
		}
		in.Server, in.Arguments = g.serverInput(u), stringArguments(p.Arguments)
		in.Prompt = &policy.Prompt{Name: p.Name, UpstreamName: rest, Server: u.cfg.Name}
	default:
		return nil, errNoTarget
	}
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
	in, err := g.callInput(id, msg.Method, params, g.catalog())
	if err != nil {
		return body, nil // the MCP layer refuses it
	}
	return body, in
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (g *Gateway) resourceInput(in *policy.Input, t targets, uri string) (*policy.Input, error) {
	res := &policy.Resource{URI: uri}
	var u *upstream
	if e := t.resource(uri); e != nil {
		u, res.Name, res.MIMEType = e.up, e.resource.Name, e.resource.MIMEType
	} else if e := t.template(uri); e != nil {
		u, res.URITemplate, res.Name, res.MIMEType = e.up, e.template.URITemplate, e.template.Name, e.template.MIMEType
	} else {
		return nil, errNoTarget
	}
	res.Server = u.cfg.Name
	in.Server, in.Resource = g.serverInput(u), res
	return in, nil
}

func (g *Gateway) completionInput(in *policy.Input, t targets, p *mcp.CompleteParams) (*policy.Input, error) {
	if p == nil || p.Ref == nil {
		return nil, errNoTarget
	}
	switch p.Ref.Type {
	case "ref/prompt":
		e := t.prompt(p.Ref.Name)
		if e == nil {
			return nil, errNoTarget
		}
		in.Server = g.serverInput(e.up)
		in.Prompt = &policy.Prompt{Name: e.prompt.Name, UpstreamName: e.upstreamName, Server: e.up.cfg.Name}
	case "ref/resource":
		if e := t.templateByURI(p.Ref.URI); e != nil {
			in.Server = g.serverInput(e.up)
			in.Resource = &policy.Resource{URITemplate: e.template.URITemplate, Name: e.template.Name, Server: e.up.cfg.Name}
		} else if e := t.resource(p.Ref.URI); e != nil {
			in.Server = g.serverInput(e.up)
			in.Resource = &policy.Resource{URI: e.resource.URI, Name: e.resource.Name, Server: e.up.cfg.Name}
		} else {
			return nil, errNoTarget
		}
	default:
		return nil, errNoTarget
	}
	in.Arguments = map[string]any{p.Argument.Name: p.Argument.Value}
	return in, nil
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

// authorize is the call phase: the receiving middleware of every view. A
// request is decided against the target this view will dispatch it to; a
// denied request never reaches an upstream, and the client gets an MCP error
// carrying the policy's reasons. A request whose target the view does not
// show is decided and refused too, and one that cannot be decided is
// refused: nothing call-phase is ever forwarded undecided.
// resources/subscribe is decided in the view's subscribe handler, which
// 2026-07-28 subscriptions/listen reaches without this middleware;
// resources/unsubscribe only ends what a decision allowed and is not
// decided (nor looked ahead by the step-up challenge).
func (v *view) authorize(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if err := v.admit(ctx, method, req); err != nil {
			return nil, err
		}
		if _, ok := callParams[method]; !ok || method == "resources/subscribe" {
			return next(ctx, method, req)
		}
		ctx, err := v.decide(ctx, method, req)
		if err != nil {
			return nil, err
		}
		return next(ctx, method, req)
	}
}

// decidedKey holds, in a request's context, the target its call-phase
// decision was about: the handler that forwards the request checks that it
// forwards to that target (the view can change between the decision and
// the SDK's dispatch, e.g. when an upstream comes or goes).
type decidedKey struct{}

type decidedTarget struct{ server, name string }

func withDecided(ctx context.Context, in *policy.Input) context.Context {
	d := decidedTarget{server: in.Server.Name}
	switch {
	case in.Tool != nil:
		d.name = in.Tool.UpstreamName
	case in.Prompt != nil:
		d.name = in.Prompt.UpstreamName
	}
	return context.WithValue(ctx, decidedKey{}, d)
}

// checkDecided refuses to forward a call-phase request to upstream u's
// name (a tool or prompt; "" for a resource) unless that is what the
// policy decided.
func (g *Gateway) checkDecided(ctx context.Context, u *upstream, name string) error {
	d, ok := ctx.Value(decidedKey{}).(decidedTarget)
	if !ok || d.server != u.cfg.Name || (name != "" && d.name != name) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
			Message: "mcpgate: the request's target changed while it was being decided; send it again"}
	}
	return nil
}

// admit is the initialize phase: may this caller use the gateway at all?
// A session of the 2025 revisions is decided at its initialize (also when
// another replica takes a sealed session over, as that runs initialize
// again); a policy change applies to sessions opened after it. A
// 2026-07-28 request has no initialize, so each request is admitted by the
// decision for its caller, client and policy revision, made once and
// cached in the view (logged once, like list decisions).
func (v *view) admit(ctx context.Context, method string, req mcp.Request) error {
	if method == "initialize" {
		return v.decideInitialize(ctx, req)
	}
	if method == "ping" || strings.HasPrefix(method, "notifications/") {
		return nil
	}
	if ss, _ := req.GetSession().(*mcp.ServerSession); ss != nil {
		if p := ss.InitializeParams(); p != nil && p.ProtocolVersion < statelessVersion {
			return nil // decided at this session's initialize
		}
	}
	return v.sessionGate.admit(ctx, v, req)
}

func (v *view) decideInitialize(ctx context.Context, req mcp.Request) error {
	id := identityOf(req)
	if id == nil {
		return deniedError(policy.Decision{Reasons: []string{"no verified identity"}})
	}
	in := baseInput(id, policy.PhaseInitialize, "initialize")
	fillRequest(in, req)
	if p, ok := req.GetParams().(*mcp.InitializeParams); ok && p != nil {
		in.Request.ProtocolVersion = p.ProtocolVersion
		if p.ClientInfo != nil {
			in.Client = &policy.Client{Name: p.ClientInfo.Name, Version: p.ClientInfo.Version}
		}
	}
	if d := v.g.decideObserved(ctx, in); !d.Allow {
		return deniedError(d)
	}
	return nil
}

// sessionGate caches the initialize-phase allows of one view's 2026-07-28
// requests by (policy revision, client name, client version). Denials are
// not cached: one may come from a passing failure (a timeout), and a denied
// caller costs a decision per request only while it is denied.
type sessionGate struct {
	mu       sync.Mutex
	revision string
	allowed  map[[2]string]bool
}

// maxGateEntries bounds the cached decisions per view (client names and
// versions are the caller's to choose).
const maxGateEntries = 64

func (sg *sessionGate) admit(ctx context.Context, v *view, req mcp.Request) error {
	id := identityOf(req)
	if id == nil {
		return deniedError(policy.Decision{Reasons: []string{"no verified identity"}})
	}
	in := baseInput(id, policy.PhaseInitialize, "initialize")
	fillRequest(in, req)
	var key [2]string
	if in.Client != nil {
		key = [2]string{in.Client.Name, in.Client.Version}
	}
	rev := v.g.policyRevision()
	sg.mu.Lock()
	if sg.revision != rev || len(sg.allowed) >= maxGateEntries {
		sg.revision, sg.allowed = rev, map[[2]string]bool{}
	}
	ok := sg.allowed[key]
	sg.mu.Unlock()
	if ok {
		return nil
	}
	d := v.g.decideObserved(ctx, in)
	if !d.Allow {
		return deniedError(d)
	}
	sg.mu.Lock()
	if sg.revision == rev && d.Revision == rev {
		sg.allowed[key] = true
	}
	sg.mu.Unlock()
	return nil
}

// decide makes the call-phase decision of one request and returns the error
// that refuses it, or the context that carries the decided target.
func (v *view) decide(ctx context.Context, method string, req mcp.Request) (context.Context, error) {
	id := identityOf(req)
	if id == nil {
		return ctx, deniedError(policy.Decision{Reasons: []string{"no verified identity"}})
	}
	// Resolve the target as this view will dispatch it; a target the view
	// hides is still decided (and logged) against the catalog, so the
	// caller learns the policy's reasons and the security team sees the
	// attempt, but it is never dispatched.
	hidden := false
	in, err := v.g.callInput(id, method, req.GetParams(), v)
	if errors.Is(err, errNoTarget) {
		hidden = true
		in, err = v.g.callInput(id, method, req.GetParams(), v.g.catalog())
	}
	if errors.Is(err, errNoTarget) {
		// A tool or prompt of a server that is down right now is decided
		// with what its name tells (server, upstream name, arguments): a
		// caller the policy allows learns that the server is unavailable
		// (absentServerMiddleware answers), any other is refused.
		hidden = false
		in, err = v.g.absentInput(id, method, req.GetParams())
	}
	switch {
	case errors.Is(err, errNoTarget):
		return ctx, notFound(method, req.GetParams())
	case err != nil:
		return ctx, deniedError(policy.Decision{Reasons: []string{err.Error()}})
	}
	fillRequest(in, req)
	d := v.g.decideObserved(ctx, in)
	switch {
	case !d.Allow:
		return ctx, deniedError(d)
	case hidden:
		return ctx, notFound(method, req.GetParams())
	}
	return withDecided(ctx, in), nil
}

// notFound answers a request for a target the caller cannot see as the SDK
// answers an unknown one, so hidden targets do not reveal themselves.
func notFound(method string, params mcp.Params) error {
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", p.Name)}
	case *mcp.GetPromptParams:
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown prompt %q", p.Name)}
	case *mcp.ReadResourceParams:
		return mcp.ResourceNotFoundError(p.URI)
	case *mcp.SubscribeParams:
		return mcp.ResourceNotFoundError(p.URI)
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: method + ": unknown target"}
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
