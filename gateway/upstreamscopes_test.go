package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/testtools/zitadel"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// upstreamScopesPolicy allows every request, and decides upstream scopes
// from the upstream-phase input it is given: for a call to echo, openid
// and profile (and a scope outside the catalogue, which must never be
// asked); for slow, nothing. It grants only when the input is what the
// gateway must send: phase upstream, method upstream/token, the target,
// no arguments, the catalogue with its levels.
const upstreamScopesPolicy = `package mcpgate.authz

decision := {"allow": true, "reasons": ["test"]}

upstream_scopes := {"scopes": ["openid", "profile", "admin"], "reasons": ["echo reads"]} if {
	input.phase == "upstream"
	input.method == "upstream/token"
	input.server.name == "echo"
	input.tool.upstream_name == "echo"
	not input.arguments
	input.upstream_scopes == [
		{"name": "openid", "level": "read"},
		{"name": "profile", "level": "read", "description": "Your name"},
		{"name": "email", "level": "write"},
	]
}

upstream_scopes := {"scopes": [], "reasons": ["slow gets no upstream scope"]} if {
	input.tool.upstream_name == "slow"
}
`

// tokenRequests is a reverse proxy in front of a real authorization
// server's token endpoint that records the scope parameter of every token
// request: what the gateway asked for.
type tokenRequests struct {
	URL string

	mu     sync.Mutex
	scopes []string
	forms  []url.Values // every request's form, in order
}

func startTokenRequests(t *testing.T, tokenURL string) *tokenRequests {
	t.Helper()
	target, err := url.Parse(tokenURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &tokenRequests{}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	hs := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tr.mu.Lock()
		tr.scopes = append(tr.scopes, r.PostForm.Get("scope"))
		tr.forms = append(tr.forms, r.PostForm)
		tr.mu.Unlock()
		body := r.PostForm.Encode()
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	tr.URL = hs.URL + target.Path
	return tr
}

// sent returns the form of every token request so far.
func (tr *tokenRequests) sent() []url.Values {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.forms)
}

func (tr *tokenRequests) asked() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.scopes)
}

// Policy decides the scopes of each call's upstream token: the gateway
// asks the real authorization server for what policy granted within the
// catalogue (never a scope outside it), its own requests for the
// read-level scopes, and refuses a call for which policy grants none
// without reaching the upstream.
func TestUpstreamScopesDecidedPerCall(t *testing.T) {
	t.Parallel()
	as := zitadel.Start(t)
	tokens := startTokenRequests(t, as.TokenURL())
	up := startVerifyingUpstream(t, as)
	secret := t.TempDir() + "/secret"
	writeSecret(t, secret, zitadel.ClientSecret)
	s := ccServer(up, as, secret)
	s.Auth.TokenURL = tokens.URL
	s.Auth.Scopes = []config.UpstreamScope{{Name: "openid", Level: config.ScopeLevelRead},
		{Name: "profile", Level: config.ScopeLevelRead, Description: "Your name"}, {Name: "email", Level: config.ScopeLevelWrite}}

	engine := policy.NewEngine(policy.Options{})
	if err := engine.LoadModules(map[string]string{"p.rego": upstreamScopesPolicy}, nil); err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.Authorizer = engine
	gw := startGateway(t, opts, s)
	if st := upstreamState(gw.Gateway, "echo"); st != StateReady {
		t.Fatalf("upstream is %s: %+v", st, gw.Status())
	}
	if got := tokens.asked(); !slices.Equal(got, []string{"openid profile"}) {
		t.Fatalf("the gateway's own session asked scopes %q, want the read-level catalogue %q", got, "openid profile")
	}

	cs := connectWith(t, gw.URL, legacy, nil, employeeClient())
	callEcho(t, cs)
	// openid profile again: the same set, so the cached token serves.
	if got := tokens.asked(); len(got) != 1 {
		t.Errorf("token requests %q: the call's scopes equal the cached token's, no new request expected", got)
	}

	_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "echo__slow", Arguments: map[string]any{}})
	rpcErr := rpcError(t, err)
	if rpcErr.Code != CodeDenied || !strings.Contains(rpcErr.Message, "grants no scope") {
		t.Fatalf("a call policy grants no upstream scope for: %d %q, want denied naming the scopes", rpcErr.Code, rpcErr.Message)
	}
	for _, scope := range tokens.asked() {
		if strings.Contains(scope, "admin") || strings.Contains(scope, "email") {
			t.Errorf("the gateway asked %q: outside what policy granted within the catalogue", scope)
		}
	}
	noEmployeeToken(t, up.headers())
}

// A failed decision (no rule for the tool: undefined) refuses the call,
// and so does an authorizer that cannot decide upstream scopes: New
// refuses a server with a catalogue.
func TestUpstreamScopesFailClosed(t *testing.T) {
	t.Parallel()
	if _, err := New(&config.Config{Servers: []config.Server{{Name: "x", Auth: &config.UpstreamAuth{Kind: config.AuthClientCredentials,
		Scopes: []config.UpstreamScope{{Name: "a"}}}}}}, &Options{Authorizer: decideOnly{}}); err != ErrNoUpstreamScoper {
		t.Fatalf("New with an authorizer that cannot decide upstream scopes: %v, want ErrNoUpstreamScoper", err)
	}

	as := zitadel.Start(t)
	up := startVerifyingUpstream(t, as)
	secret := t.TempDir() + "/secret"
	writeSecret(t, secret, zitadel.ClientSecret)
	engine := policy.NewEngine(policy.Options{})
	if err := engine.LoadModules(map[string]string{"p.rego": `package mcpgate.authz
decision := {"allow": true, "reasons": ["test"]}
`}, nil); err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.Authorizer = engine
	gw := startGateway(t, opts, ccServer(up, as, secret))
	cs := connectWith(t, gw.URL, modern, nil, employeeClient())
	_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "echo__echo", Arguments: map[string]any{}})
	if rpcErr := rpcError(t, err); rpcErr.Code != CodeDenied {
		t.Fatalf("a call whose upstream scopes are undecided: %d %q, want denied", rpcErr.Code, rpcErr.Message)
	}
}

// decideOnly is an Authorizer without upstream scope decisions.
type decideOnly struct{}

func (decideOnly) Decide(ctx context.Context, in *policy.Input) policy.Decision {
	return AllowAll{}.Decide(ctx, in)
}
func (decideOnly) Check(ctx context.Context, in *policy.Input) policy.Decision {
	return AllowAll{}.Check(ctx, in)
}
func (decideOnly) Revision() string { return "decide-only" }
