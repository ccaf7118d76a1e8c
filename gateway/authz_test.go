package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testPolicy: everybody may list and call echo; slow needs the "admin"
// scope (a step-up); secret is never listed nor callable; delete is listed
// to admins only. Arguments matter in the call phase only.
const testPolicy = `package mcpgate.authz

default decision := {"allow": false, "reasons": ["no rule allows this"], "required_scopes": []}

decision := {"allow": true, "reasons": [], "required_scopes": []} if allowed

decision := {"allow": false, "reasons": ["slow needs the admin scope"], "required_scopes": ["admin"]} if {
	input.tool.upstream_name == "slow"
	not "admin" in input.token.scopes
}

decision := {"allow": false, "reasons": ["echo refuses the word forbidden"], "required_scopes": []} if {
	input.phase == "call"
	input.tool.upstream_name == "echo"
	input.arguments.word == "forbidden"
}

allowed if {
	input.phase == "initialize"
	input.user.sub != "mallory"
}

allowed if {
	input.tool.upstream_name == "echo"
	not input.arguments.word == "forbidden"
}

allowed if {
	input.tool.upstream_name == "slow"
	"admin" in input.token.scopes
}
`

// decisionLines is a decision log writing to a buffer.
type decisionLines struct {
	log *policy.DecisionLog
	buf testtools.SyncBuffer
}

func newDecisionLines(t testing.TB) *decisionLines {
	l := &decisionLines{}
	l.log = policy.NewDecisionLog(&l.buf, 1000)
	t.Cleanup(func() { l.log.Close() })
	return l
}

// lines closes the log and returns its lines. Decide queues a decision
// before it returns and Close writes every queued one, so the lines are
// exactly the decisions of the requests that have completed: no waiting
// for the log's goroutine. Later decisions are dropped, not logged.
func (l *decisionLines) lines() []map[string]any {
	l.log.Close()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// signedInGateway runs a gateway with real sign-in (the development
// provider as issuer, authn's verifier and middleware) and a real policy
// engine with testPolicy. It returns the gateway URL, the provider to mint
// tokens, and the decision log.
func signedInGateway(t testing.TB) (string, *devidp.Provider, *decisionLines) {
	return signedInGatewayFor(t, echoServer("up", nil, nil))
}

// signedInGatewayFor is signedInGateway with upstream "up" serving srv.
func signedInGatewayFor(t testing.TB, srv *mcp.Server) (string, *devidp.Provider, *decisionLines) {
	return signedInGatewayWith(t, srv, testPolicy)
}

// signedInGatewayWith is signedInGatewayFor with the policy src.
func signedInGatewayWith(t testing.TB, srv *mcp.Server, src string) (string, *devidp.Provider, *decisionLines) {
	return signedInGatewayOpts(t, srv, src, nil)
}

// signedInGatewayOpts is signedInGatewayWith with edit applied to the options.
func signedInGatewayOpts(t testing.TB, srv *mcp.Server, src string, edit func(*Options)) (string, *devidp.Provider, *decisionLines) {
	t.Helper()
	const resource = "http://gateway.test/mcp"
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	idp, err := devidp.New(devidp.Options{Issuer: "http://" + ln.Addr().String() + "/idp", Audience: resource, Scopes: []string{"mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	idpSrv := &http.Server{Handler: http.StripPrefix("/idp", idp.Handler())}
	go idpSrv.Serve(ln)
	t.Cleanup(func() { idpSrv.Close() })
	v, err := authn.NewVerifier(authn.Config{Resource: resource, Issuers: []authn.IssuerConfig{{Issuer: idp.Issuer()}}})
	if err != nil {
		t.Fatal(err)
	}
	decisions := newDecisionLines(t)
	engine := policy.NewEngine(policy.Options{DecisionLog: decisions.log})
	if err := engine.LoadModules(map[string]string{"p.rego": src}, nil); err != nil {
		t.Fatal(err)
	}
	mw := authn.MiddlewareOptions{ResourceMetadataURL: "http://gateway.test/.well-known/oauth-protected-resource/mcp"}
	opts := testOptions()
	opts.Authorizer = engine
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{func(h http.Handler) http.Handler {
		m := mw
		m.TracerProvider = opts.TracerProvider // as edited: mcpgate serve gives both the same
		return authn.Middleware(v, m)(h)
	}}
	opts.ScopeChallenge = func(w http.ResponseWriter, scopes []string, desc string) {
		authn.WriteInsufficientScope(w, mw, scopes, desc)
	}
	if edit != nil {
		edit(opts)
	}
	up := startUpstream(t, srv)
	gw := startGateway(t, opts, upstreamConfig("up", up.URL))
	return gw.URL, idp, decisions
}

func inputSchema(t *testing.T) *jsonschema.Resolved {
	t.Helper()
	raw, err := os.ReadFile("../docs/policy-input.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func tokenFor(t testing.TB, idp *devidp.Provider, user string) string {
	t.Helper()
	tok, _, err := idp.Token(user)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestPolicyListAndCall(t *testing.T) {
	t.Parallel()
	url, idp, decisions := signedInGateway(t)
	hc := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "alice")}}}}
	for name, version := range eras {
		t.Run(name, func(t *testing.T) {
			cs := connectWith(t, url, version, nil, hc)
			if got := toolNames(t, cs); !slices.Equal(got, []string{"up__echo"}) {
				t.Errorf("alice lists %v, want only up__echo", got)
			}
			res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{"word": "hello"}})
			if err != nil || res.IsError {
				t.Fatalf("allowed call: %v %+v", err, res)
			}
			// The call phase sees the arguments; the list phase never does.
			_, err = cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{"word": "forbidden"}})
			if rpcErr := rpcError(t, err); rpcErr.Code != CodeDenied || !strings.Contains(rpcErr.Message, "echo refuses the word forbidden") {
				t.Errorf("denied call: %+v", rpcErr)
			}
		})
	}
	// Every decision is logged, arguments masked.
	callLines := func(ls []map[string]any) int {
		n := 0
		for _, l := range ls {
			if l["phase"] == "call" {
				n++
			}
		}
		return n
	}
	lines := decisions.lines()
	var sawDeny bool
	for _, l := range lines {
		if l["phase"] == "call" && l["allow"] == false {
			sawDeny = true
			in, _ := l["input"].(map[string]any)
			args, _ := in["arguments"].(map[string]any)
			req, _ := in["request"].(map[string]any)
			if args["word"] != policy.MaskedValue || l["target"] != "up__echo" || req["protocol_version"] == nil {
				t.Errorf("denied call logged as %v; want the argument masked, the target and the session", l)
			}
		}
		if l["user_sub"] != "alice" || l["decision_id"] == "" || l["policy_revision"] == "" {
			t.Errorf("decision-log line %v", l)
		}
	}
	if !sawDeny {
		t.Errorf("no denied call in the decision log: %v", lines)
	}
	// The inputs the gateway really builds match the documented schema
	// (docs/policy-input.schema.json), list and call phase alike.
	schema := inputSchema(t)
	for _, l := range lines {
		if err := schema.Validate(l["input"]); err != nil {
			t.Errorf("input of decision %v does not match the schema: %v\n%v", l["decision_id"], err, l["input"])
		}
	}
	if calls := callLines(lines); calls != 4 {
		t.Errorf("%d call decisions logged for 4 calls: one decision of record per call", calls)
	}
}

// TestListDecisionsAreCached checks that listing does not evaluate the
// policy per tool per request: one identity's view is decided once.
func TestListDecisionsAreCached(t *testing.T) {
	t.Parallel()
	url, idp, decisions := signedInGateway(t)
	hc := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "bob")}}}}
	cs := connectWith(t, url, legacy, nil, hc)
	for range 11 {
		toolNames(t, cs)
	}
	// A second session of the same user reuses the view too.
	toolNames(t, connectWith(t, url, modern, nil, hc))
	decided := map[string]int{}
	for _, l := range decisions.lines() {
		if l["phase"] == "list" {
			decided[l["target"].(string)]++
		}
	}
	if len(decided) < 2 {
		t.Fatalf("list decisions %v, want one for each listed tool", decided)
	}
	for target, n := range decided {
		if n != 1 {
			t.Errorf("%s was decided %d times over 12 lists in two sessions, want once", target, n)
		}
	}
}

// TestInsufficientScopeChallenge: a call that needs a scope the token
// lacks is answered 403 insufficient_scope, every time (the answer is the
// decision of record, so the decision cache never holds it: the look
// ahead, which reads the cache first, never skips it).
func TestInsufficientScopeChallenge(t *testing.T) {
	t.Parallel()
	url, idp, _ := signedInGateway(t)
	token := tokenFor(t, idp, "carol")
	for range 3 {
		status, got, _ := callTool(t, url, token, "up__slow", map[string]any{})
		if status != http.StatusForbidden || !strings.Contains(got, `error="insufficient_scope"`) ||
			!strings.Contains(got, `scope="admin"`) || !strings.Contains(got, `resource_metadata="http://gateway.test/`) {
			t.Errorf("status %d, WWW-Authenticate %q; want 403 insufficient_scope for admin", status, got)
		}
	}
}

// TestDeniedCallNeverReachesUpstream checks that a denial is decided before
// anything is sent upstream.
func TestDeniedCallNeverReachesUpstream(t *testing.T) {
	t.Parallel()
	calls := make(chan string, 4)
	s := mcp.NewServer(&mcp.Implementation{Name: "watched"}, nil)
	s.AddTool(&mcp.Tool{Name: "echo", InputSchema: emptyObject}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		calls <- string(req.Params.Arguments)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran"}}}, nil
	})
	url, idp, _ := signedInGatewayFor(t, s)
	hc := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "alice")}}}}
	cs := connectWith(t, url, legacy, nil, hc)
	for name, args := range map[string]any{
		"denied by the policy":                      map[string]any{"word": "forbidden"},
		"arguments the gateway cannot read (1e999)": json.RawMessage(`{"word":"forbidden","x":1e999}`),
		"arguments that are not an object":          json.RawMessage(`["word","forbidden"]`),
	} {
		if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo", Arguments: args}); err == nil {
			t.Fatalf("%s: the call succeeded", name)
		}
	}
	// A hidden or unknown name is refused as unknown, without a decision.
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__nope"}); err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("unknown tool: %v", err)
	}
	if _, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{"word": "fine"}}); err != nil {
		t.Fatal(err)
	}
	if got := <-calls; got != `{"word":"fine"}` {
		t.Errorf("the upstream saw %s first; the denied call must never reach it", got)
	}
}

// listOnlyPolicy shows everything and allows no call.
const listOnlyPolicy = `package mcpgate.authz

default decision := {"allow": false, "reasons": ["calls are not allowed"], "required_scopes": []}

decision := {"allow": true, "reasons": [], "required_scopes": []} if input.phase in {"initialize", "list"}
`

// TestEveryCallPhaseMethodIsDecided: with a policy that shows everything and
// allows no call, completion (on a template, a static resource or a
// prompt), reads, subscriptions and prompts are all denied by the policy
// before they reach the upstream.
func TestEveryCallPhaseMethodIsDecided(t *testing.T) {
	t.Parallel()
	url, idp, _ := signedInGatewayWith(t, metaServer(make(chan mcp.Meta, 4)), listOnlyPolicy)
	hc := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "alice")}}}}
	cs := connectWith(t, url, legacy, nil, hc)
	ctx := ctxTimeout(t)
	checks := map[string]error{}
	_, checks["complete template"] = cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: "meta://item/{id}"}, Argument: mcp.CompleteParamsArgument{Name: "id", Value: "x"}})
	_, checks["complete static resource"] = cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: "meta://watched"}, Argument: mcp.CompleteParamsArgument{Name: "x", Value: "y"}})
	_, checks["complete prompt"] = cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "up__greet"}, Argument: mcp.CompleteParamsArgument{Name: "who", Value: "y"}})
	_, checks["read"] = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "meta://watched"})
	_, checks["read via template"] = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "meta://item/1"})
	checks["subscribe"] = cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "meta://watched"})
	_, checks["prompt"] = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "up__greet"})
	for name, err := range checks {
		if err == nil || !strings.Contains(err.Error(), "calls are not allowed") {
			t.Errorf("%s: %v; want denied by the policy", name, err)
		}
	}
}

// TestInitializePhase: the initialize phase decides who may use the gateway
// at all. A 2025 session is decided at its initialize; a 2026-07-28 request,
// which has no initialize, is admitted by a decision cached per caller,
// client and policy revision. The policy denies mallory at initialize only
// (her list and call decisions would allow echo).
func TestInitializePhase(t *testing.T) {
	t.Parallel()
	url, idp, decisions := signedInGateway(t)
	mallory := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "mallory")}}}}
	alice := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + tokenFor(t, idp, "alice")}}}}
	for name, version := range eras {
		c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
		_, err := c.Connect(ctxTimeout(t), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: mallory},
			&mcp.ClientSessionOptions{ProtocolVersion: version})
		if err == nil || !strings.Contains(err.Error(), "denied by policy: no rule allows this") {
			t.Errorf("%s: mallory's connect = %v, want the initialize denial", name, err)
		}
	}
	// A bare 2026-07-28 request, no handshake at all: refused as well.
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"up__echo","arguments":{"word":"hi"},`+
			`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", modern)
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "up__echo")
	resp, err := mallory.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "denied by policy: no rule allows this") || strings.Contains(string(body), `"result"`) {
		t.Errorf("mallory's bare 2026-07-28 call: %d %s, want the initialize denial", resp.StatusCode, body)
	}

	// Alice passes, in both eras; her 2026-07-28 requests are admitted by
	// one cached decision, not one per request.
	for _, version := range eras {
		cs := connectWith(t, url, version, nil, alice)
		for range 3 {
			if res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{"word": "hi"}}); err != nil || res.IsError {
				t.Fatalf("alice (%s): %v %+v", version, err, res)
			}
		}
	}
	lines := decisions.lines()
	count := func(user string, allow bool) int {
		n := 0
		for _, l := range lines {
			if l["phase"] == "initialize" && l["user_sub"] == user && l["allow"] == allow {
				n++
			}
		}
		return n
	}
	if n := count("mallory", false); n < 3 {
		t.Errorf("mallory has %d denied initialize decisions, want one at least for each of her 3 attempts", n)
	}
	if n := count("alice", true); n != 2 {
		t.Errorf("alice has %d initialize decisions, want 2 (her 2025 initialize and one cached for 2026-07-28)", n)
	}
}

// TestForwardingNeedsTheDecidedTarget: with an Authorizer, a handler
// forwards only to the target the request's decision was about; a request
// that reaches it undecided, or decided for another target (the view
// changed between decision and dispatch), is refused, not forwarded.
func TestForwardingNeedsTheDecidedTarget(t *testing.T) {
	t.Parallel()
	g := &Gateway{opts: &Options{Authorizer: policy.NewEngine(policy.Options{})}}
	up := &upstream{cfg: config.Server{Name: "notes"}}
	readNote := &policy.Input{Server: &policy.Server{Name: "notes"}, Tool: &policy.Tool{UpstreamName: "read_note"}}
	decided := withDecided(context.Background(), readNote, false)
	// Allowed while the server was down: the call may only be told so.
	decidedAbsent := withDecided(context.Background(), readNote, true)
	for name, tc := range map[string]struct {
		ctx    context.Context
		target string
		ok     bool
	}{
		"decided":                  {decided, "read_note", true},
		"undecided":                {context.Background(), "read_note", false},
		"decided for another tool": {decided, "delete_note", false},
		"a resource of the server": {decided, "", true},
		"decided while down":       {decidedAbsent, "read_note", false},
	} {
		err := g.checkDecided(tc.ctx, up, tc.target)
		if (err == nil) != tc.ok {
			t.Errorf("%s: checkDecided = %v, want allowed=%v", name, err, tc.ok)
		}
	}
	other := &upstream{cfg: config.Server{Name: "hr"}}
	if g.checkDecided(decided, other, "") == nil {
		t.Error("a request decided for server notes may be forwarded to hr")
	}
}

// A gateway without an Authorizer is never built: New refuses it, whatever
// else is configured, so no code path can forward an undecided request.
func TestNewRefusesNoAuthorizer(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Servers = []config.Server{{Name: "notes", URL: "http://127.0.0.1:1/mcp", AllowInsecureHTTP: true,
		Transport: config.TransportStreamableHTTP, Timeout: config.DefaultServerTimeout}}
	for name, opts := range map[string]*Options{"nil options": nil, "no authorizer": {Version: "test"}} {
		g, err := New(cfg, opts)
		if !errors.Is(err, ErrNoAuthorizer) || g != nil {
			t.Errorf("%s: New = %v, %v; want ErrNoAuthorizer", name, g, err)
		}
	}
	if g, err := New(cfg, &Options{Authorizer: AllowAll{}}); err != nil || g == nil {
		t.Fatalf("New with AllowAll: %v", err)
	}
}

// An identity whose claims cannot be encoded never shares a view key (and
// so the list filtering of a view) with another caller.
func TestIdentityKeyUnencodable(t *testing.T) {
	id := &authn.Identity{Issuer: "https://i", Subject: "s", Claims: map[string]any{"bad": math.NaN()}}
	a, b := identityKey(id), identityKey(id)
	if a == b || !strings.HasPrefix(a, "unkeyed:") {
		t.Errorf("identityKey of an unencodable identity = %q and %q, want two distinct unkeyed keys", a, b)
	}
	same := func() *authn.Identity {
		return &authn.Identity{Issuer: "https://i", Subject: "s", Groups: []string{"g"}}
	}
	if first, second := identityKey(same()), identityKey(same()); first != second {
		t.Error("identityKey is not stable for an ordinary identity")
	}
}

// lookAheadCounter is the engine, counting the step-up look aheads it is
// asked for.
type lookAheadCounter struct {
	*policy.Engine
	n atomic.Int64
}

func (c *lookAheadCounter) Check(ctx context.Context, in *policy.Input) policy.Decision {
	c.n.Add(1)
	return c.Engine.Check(ctx, in)
}

func (c *lookAheadCounter) CheckCached(ctx context.Context, key policy.CacheKey, in *policy.Input) policy.Decision {
	c.n.Add(1)
	return c.Engine.CheckCached(ctx, key, in)
}

func (c *lookAheadCounter) CachedDecision(key policy.CacheKey, phase, method string) (policy.Decision, bool) {
	c.n.Add(1)
	return c.Engine.CachedDecision(key, phase, method)
}

// shownSlowPolicy lists every tool; echo may be called (decided from the
// target alone, so the decision cache serves it after the first call),
// slow with the admin scope only (a denial that asks for it).
const shownSlowPolicy = `package mcpgate.authz

default decision := {"allow": false, "reasons": ["no"], "required_scopes": []}

decision := {"allow": true, "reasons": ["in"], "required_scopes": []} if input.phase in {"initialize", "list"}

decision := {"allow": true, "reasons": ["echo"], "required_scopes": []} if {
	input.phase == "call"
	input.tool.upstream_name == "echo"
}

decision := {"allow": false, "reasons": ["slow needs the admin scope"], "required_scopes": ["admin"]} if {
	input.phase == "call"
	input.tool.upstream_name == "slow"
	not "admin" in input.token.scopes
}
`

// TestStepUpDecidedOnce: a call the fast path serves is decided once, by
// its decision of record, which also answers the step-up (403
// insufficient_scope) when it wants a scope the token lacks: no look
// ahead. A call the fast path hands to the SDK (here: params with a member
// it does not know) has the look ahead, and its step-up, as before.
func TestStepUpDecidedOnce(t *testing.T) {
	t.Parallel()
	var counter *lookAheadCounter
	url, idp, _ := signedInGatewayOpts(t, echoServer("up", nil, nil), shownSlowPolicy, func(o *Options) {
		counter = &lookAheadCounter{Engine: o.Authorizer.(*policy.Engine)}
		o.Authorizer = counter
	})
	token := tokenFor(t, idp, "carol")
	for range 2 { // the first may go the SDK's way: the upstream session is made on first use
		if status, challenge, body := callTool(t, url, token, "up__echo", map[string]any{"word": "hi"}); status != http.StatusOK || challenge != "" {
			t.Fatalf("allowed call: %d %q %s", status, challenge, body)
		}
		counter.n.Store(0)
	}
	if status, challenge, body := callTool(t, url, token, "up__echo", map[string]any{"word": "hi"}); status != http.StatusOK || challenge != "" {
		t.Fatalf("allowed call: %d %q %s", status, challenge, body)
	}
	status, challenge, _ := callTool(t, url, token, "up__slow", map[string]any{})
	if status != http.StatusForbidden || !strings.Contains(challenge, `error="insufficient_scope"`) || !strings.Contains(challenge, `scope="admin"`) {
		t.Fatalf("slow without admin: %d %q, want the step-up challenge", status, challenge)
	}
	if n := counter.n.Load(); n != 0 {
		t.Errorf("%d look aheads for calls the fast path served, want none", n)
	}
	// An unknown member in params: the fast path leaves the call to the
	// SDK, after the look ahead.
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"up__slow","arguments":{},"extra":1,"_meta":{` +
		`"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url, strings.NewReader(body))
	for k, v := range map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json",
		"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": modern, "Mcp-Method": "tools/call", "Mcp-Name": "up__slow"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="admin"`) {
		t.Errorf("the SDK's call: %d %q, want the step-up challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if counter.n.Load() == 0 {
		t.Error("no look ahead for the call the fast path left to the SDK")
	}
}
