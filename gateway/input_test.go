package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/approval"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// recordingAuthorizer allows everything and keeps every input it decided,
// encoded as the policy sees it.
type recordingAuthorizer struct {
	AllowAll
	mu     sync.Mutex
	inputs []map[string]any
}

func (a *recordingAuthorizer) Decide(ctx context.Context, in *policy.Input) policy.Decision {
	raw, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic(err)
	}
	a.mu.Lock()
	a.inputs = append(a.inputs, doc)
	a.mu.Unlock()
	return a.AllowAll.Decide(ctx, in)
}

func (a *recordingAuthorizer) recorded() []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.inputs)
}

// schemaLeaves returns the path of every leaf field docs/policy-input.schema.json
// documents ("request.remote_addr", "tool.annotations.title", ...).
func schemaLeaves(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../docs/policy-input.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	defs, _ := schema["$defs"].(map[string]any)
	var leaves []string
	var walk func(prefix string, s map[string]any)
	walk = func(prefix string, s map[string]any) {
		if ref, ok := s["$ref"].(string); ok {
			s, _ = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		props, ok := s["properties"].(map[string]any)
		if !ok {
			leaves = append(leaves, prefix)
			return
		}
		for name, p := range props {
			walk(strings.TrimPrefix(prefix+"."+name, "."), p.(map[string]any))
		}
	}
	walk("", schema)
	slices.Sort(leaves)
	return leaves
}

// lookup returns the value at a dotted path of an input document.
func lookup(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// set reports whether an input value carries information: present, not
// null, not empty, not the zero time.
func set(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != "" && v != "0001-01-01T00:00:00Z"
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// inputPhases says, for every field the schema documents, in which phases
// it is filled (given a token, client and upstream that carry everything).
// docs/policy.md's input table says the same. The gateway builds the
// inputs of gatewayPhases; the authorization server (authn/authserver)
// builds those of the grant and register phases, and its tests check them.
// Nothing builds the upstream phase's inputs yet: its fields are listed
// here, and checked against the gateway's inputs only when it does (see
// builtElsewhere).
var inputPhases = map[string][]string{
	"phase": {"initialize", "list", "call"}, "method": {"initialize", "list", "call"},
	"user.sub": {"initialize", "list", "call"}, "user.iss": {"initialize", "list", "call"},
	"user.email": {"initialize", "list", "call"}, "user.name": {"initialize", "list", "call"},
	"user.groups": {"initialize", "list", "call"}, "user.claims": {"initialize", "list", "call"},
	"token.scopes": {"initialize", "list", "call"}, "token.client_id": {"initialize", "list", "call"},
	"token.aud":   {"initialize", "list", "call"},
	"client.name": {"initialize", "call"}, "client.version": {"initialize", "call"},
	"server.name": {"list", "call"}, "server.labels": {"list", "call"},
	"tool.name": {"list", "call"}, "tool.upstream_name": {"list", "call"}, "tool.server": {"list", "call"},
	"tool.description":              {"list", "call"},
	"tool.annotations.readOnlyHint": {"list", "call"}, "tool.annotations.destructiveHint": {"list", "call"},
	"tool.annotations.idempotentHint": {"list", "call"}, "tool.annotations.openWorldHint": {"list", "call"},
	"tool.annotations.title": {"list", "call"},
	"tool.approval":          {"list", "call"}, "prompt.approval": {"list", "call"}, "resource.approval": {"list", "call"},
	"resource.description": {"list", "call"},
	"prompt.name":          {"list", "call"}, "prompt.upstream_name": {"list", "call"}, "prompt.server": {"list", "call"},
	"prompt.description": {"list", "call"},
	"resource.uri":       {"list", "call"}, "resource.uri_template": {"list", "call"}, "resource.name": {"list", "call"},
	"resource.server": {"list", "call"}, "resource.mime_type": {"list", "call"},
	"arguments":           {"call"},
	"request.time":        {"initialize", "list", "call", "grant", "register"},
	"request.remote_addr": {"initialize", "call", "grant", "register"}, "request.protocol_version": {"initialize", "call"},
	"request.session_id": {"initialize", "call"},
	"client.id":          {"grant", "register"},
	"catalogue":          {"call", "grant"},
	"upstream_scopes":    {"upstream"},
	"grant.requested":    {"grant"}, "grant.current": {"grant"}, "grant.reason": {"grant"},
	"registration.method": {"register"}, "registration.client_id": {"register"}, "registration.client_name": {"register"},
	"registration.client_uri": {"register"}, "registration.redirect_uris": {"register"}, "registration.redirect_hosts": {"register"},
	"registration.grant_types": {"register"}, "registration.token_endpoint_auth_method": {"register"},
	"registration.scope": {"register"}, "registration.software_id": {"register"}, "registration.software_version": {"register"},
	"employee.sub": {"console"},
}

// gatewayPhases are the phases whose inputs the gateway builds.
var gatewayPhases = []string{policy.PhaseInitialize, policy.PhaseList, policy.PhaseCall}

// builtElsewhere are the phases whose inputs the gateway does not build:
// the authorization server's, the upstream phase's (the credential code
// builds them) and the console's (package console, whose tests check
// them). When the gateway builds one, move it to gatewayPhases.
var builtElsewhere = []string{policy.PhaseGrant, policy.PhaseRegister, policy.PhaseUpstream, policy.PhaseConsole}

// richUpstream has one of everything, with every optional field set.
func richUpstream() *mcp.Server {
	yes, no := true, false
	s := mcp.NewServer(&mcp.Implementation{Name: "rich", Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{"a"}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	mcp.AddTool(s, &mcp.Tool{Name: "write", Description: "writes", Annotations: &mcp.ToolAnnotations{
		ReadOnlyHint: false, DestructiveHint: &yes, IdempotentHint: true, OpenWorldHint: &no, Title: "Write"}},
		func(context.Context, *mcp.CallToolRequest, struct {
			Text string `json:"text"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Description: "greets", Arguments: []*mcp.PromptArgument{{Name: "who"}}},
		func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}}, nil
		})
	read := func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: "x"}}}, nil
	}
	s.AddResource(&mcp.Resource{URI: "note://one", Name: "one", MIMEType: "text/plain", Description: "the first note"}, read)
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "note://{id}/raw", Name: "raw", MIMEType: "text/plain", Description: "a note, raw"}, read)
	return s
}

// TestEveryPhaseInputIsComplete builds the real input of every phase
// through the gateway, from a token, client and upstream that carry
// everything, and checks that each field the schema documents is set in
// the phases the docs promise: a rule on a documented field never silently
// sees nothing.
func TestEveryPhaseInputIsComplete(t *testing.T) {
	t.Parallel()
	rec := &recordingAuthorizer{}
	opts := testOptions()
	opts.Authorizer = rec
	user := &authn.Identity{Issuer: "https://idp.test", Subject: "u1", Email: "u1@example.com", Name: "U One",
		Groups: []string{"eng"}, Scopes: []string{"mcp"}, ClientID: "claude", Audience: []string{"http://gw.test/mcp"},
		Claims: map[string]any{"dept": "r&d"}, Expiry: time.Now().Add(time.Hour)}
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{signedInAs(user)}
	opts.Catalogue = []policy.Scope{{Name: "rich:write", Server: "rich", Level: "write"}, {Name: "other", Server: "other", Level: "all"}}
	up := startUpstream(t, richUpstream())
	// Approval in mode warn: every target carries its approval (new,
	// with an empty lock) and is still served.
	opts.Lock = &approval.Loaded{Lock: &approval.Lock{}}
	gw := startGatewayConfig(t, opts, func(c *config.Config) {
		s := upstreamConfig("rich", up.URL)
		s.Labels = map[string]string{"env": "prod"}
		c.Servers = []config.Server{s}
		c.Approval = config.Approval{LockFile: "mcpgate.lock.yaml", Mode: config.ApprovalWarn}
	})
	ctx := ctxTimeout(t)
	// The client claims another address with the gateway's internal header:
	// policies must still see the connection's.
	spoof := &http.Client{Transport: headerTransport{http.Header{clientAddrHeader: {"10.9.9.9"}}}}
	for _, version := range []string{legacy, modern} {
		cs := connectWith(t, gw.URL, version, nil, spoof)
		calls := []error{
			func() error {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "rich__write", Arguments: map[string]any{"text": "x"}})
				return err
			}(),
			func() error {
				_, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "rich__greet", Arguments: map[string]string{"who": "me"}})
				return err
			}(),
			func() error { _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "note://one"}); return err }(),
			func() error {
				_, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: "note://{id}/raw"},
					Argument: mcp.CompleteParamsArgument{Name: "id", Value: "o"}})
				return err
			}(),
		}
		if version == legacy {
			calls = append(calls, cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "note://one"}))
		}
		for i, err := range calls {
			if err != nil {
				t.Fatalf("%s: request %d: %v", version, i, err)
			}
		}
	}
	byPhase := map[string][]map[string]any{}
	for _, in := range rec.recorded() {
		byPhase[in["phase"].(string)] = append(byPhase[in["phase"].(string)], in)
	}
	for _, path := range schemaLeaves(t) {
		phases, ok := inputPhases[path]
		if !ok {
			t.Errorf("%s: documented by the schema but not in inputPhases: say in which phases the gateway fills it", path)
			continue
		}
		for _, phase := range phases {
			if !slices.Contains(gatewayPhases, phase) {
				if !slices.Contains(builtElsewhere, phase) {
					t.Errorf("%s: unknown phase %q in inputPhases", path, phase)
				}
				continue
			}
			if !slices.ContainsFunc(byPhase[phase], func(in map[string]any) bool { return set(lookup(in, path)) }) {
				t.Errorf("%s is never set in the %s phase (%d inputs)", path, phase, len(byPhase[phase]))
			}
		}
	}
	// The address is the connection's peer: no proxy is trusted.
	for _, in := range byPhase["call"] {
		if a, _ := lookup(in, "request.remote_addr").(string); a != "127.0.0.1" {
			t.Errorf("call input remote_addr = %q, want 127.0.0.1", a)
		}
	}
}

// signedInAs is signedIn for another identity.
func signedInAs(id *authn.Identity) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		h := signedIn(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(withTestIdentity(r.Context(), id)))
		})
	}
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	ps, err := newProxies([]string{"10.0.0.0/8", "fd00::/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		proxies proxies
		peer    string
		xff     []string
		want    string
	}{
		"no proxy trusted":           {nil, "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		"untrusted peer's XFF":       {ps, "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		"trusted peer, one hop":      {ps, "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		"client-invented left entry": {ps, "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		"chain of trusted proxies":   {ps, "10.1.2.3:5000", []string{"198.51.100.1, 192.0.2.7", "10.9.9.9"}, "198.51.100.1"},
		"all trusted":                {ps, "10.1.2.3:5000", []string{"10.4.4.4, 10.5.5.5"}, "10.4.4.4"},
		"trusted peer, no XFF":       {ps, "10.1.2.3:5000", nil, "10.1.2.3"},
		"garbage entry":              {ps, "10.1.2.3:5000", []string{"198.51.100.1, nonsense"}, ""},
		"garbage behind client":      {ps, "10.1.2.3:5000", []string{"nonsense, 198.51.100.1"}, "198.51.100.1"},
		"IPv6 with port":             {ps, "[fd00::1]:443", []string{"[2001:db8::5]:1234"}, "2001:db8::5"},
		"IPv4-mapped peer":           {ps, "[::ffff:10.1.2.3]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		"zone refused":               {ps, "[fe80::1%eth0]:80", nil, ""},
	} {
		r, _ := http.NewRequest(http.MethodPost, "http://gw.test/mcp", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := tc.proxies.clientAddress(r); got != tc.want {
			t.Errorf("%s: clientAddress = %q, want %q", name, got, tc.want)
		}
	}
}

// A client cannot set the address policies see by sending the gateway's
// internal header.
func TestClientAddressHeaderFromClientIgnored(t *testing.T) {
	t.Parallel()
	g := &Gateway{proxies: proxies{netip.MustParsePrefix("10.0.0.0/8")}}
	r, _ := http.NewRequest(http.MethodPost, "http://gw.test/mcp", nil)
	r.RemoteAddr = "203.0.113.9:1"
	r.Header.Set(clientAddrHeader, "10.0.0.1")
	g.withClientAddress(r)
	if got := r.Header.Values(clientAddrHeader); !slices.Equal(got, []string{"203.0.113.9"}) {
		t.Errorf("%s = %v, want only the peer's address", clientAddrHeader, got)
	}
}
