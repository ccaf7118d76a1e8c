package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/connections"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/dex"
	"github.com/mcpgate/mcpgate/internal/testtools/node"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/store"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The Dex users behind the gateway identities alice and bob.
var (
	dexAlice = dex.DexUser{Email: "alice@example.com", Username: "alice", Password: "alice-password", Groups: []string{"engineering"}}
	dexBob   = dex.DexUser{Email: "bob@example.com", Username: "bob", Password: "bob-password"}
)

const dexUpstreamClient = "mcpgate-tasks"

// dexUpstream is an MCP server on loopback whose own authorization server
// is Dex, like a SaaS MCP server: anyone may initialize and list; a call
// needs a token Dex issued to the gateway's client (signature, issuer,
// audience), and whoami answers the token's subject. It records every
// Authorization header.
type dexUpstream struct {
	URL string

	mu         sync.Mutex
	seen       []string
	rejectNext bool // refuse the next call's token once, as if revoked
}

func startDexUpstream(t *testing.T, d *dex.Dex) *dexUpstream {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), d.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	verifier := p.Verifier(&oidc.Config{ClientID: dexUpstreamClient})
	srv := mcp.NewServer(&mcp.Implementation{Name: "tasks"}, nil)
	srv.AddTool(&mcp.Tool{Name: "team", InputSchema: emptyObject}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "team of " + req.Extra.TokenInfo.UserID}}}, nil
	})
	srv.AddTool(&mcp.Tool{Name: "whoami", InputSchema: emptyObject}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: req.Extra.TokenInfo.UserID}}}, nil
	})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	verify := func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		idt, err := verifier.Verify(ctx, token)
		if err != nil {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: idt.Subject, Expiration: idt.Expiry}, nil
	}
	protected := auth.RequireBearerToken(verify, nil)(mcpHandler)
	u := &dexUpstream{}
	hs := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Get("Authorization"))
		u.mu.Unlock()
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		_ = json.Unmarshal(body, &msg)
		if r.Header.Get("Authorization") == "" && msg.Method != "tools/call" {
			mcpHandler.ServeHTTP(w, r) // anonymous discovery
			return
		}
		u.mu.Lock()
		reject := u.rejectNext && msg.Method == "tools/call"
		u.rejectNext = u.rejectNext && !reject
		u.mu.Unlock()
		if reject { // as if the token had been revoked
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "revoked", http.StatusUnauthorized)
			return
		}
		if msg.Method == "tools/call" && msg.Params.Name == "stubborn" {
			// stubborn asks for a scope every connection has, and still refuses.
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="email"`)
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		if msg.Method == "tools/call" && msg.Params.Name == "team" {
			// team needs the groups claim: scope groups.
			token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			var claims struct {
				Groups []string `json:"groups"`
			}
			if idt, err := verifier.Verify(r.Context(), token); err == nil && (idt.Claims(&claims) != nil || claims.Groups == nil) {
				w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="openid groups"`)
				http.Error(w, "insufficient scope", http.StatusForbidden)
				return
			}
		}
		protected.ServeHTTP(w, r)
	}))
	u.URL = hs.URL + "/mcp"
	return u
}

func (u *dexUpstream) headers() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.seen)
}

// oauthGateway is a gateway whose upstream tasks has auth kind oauth with
// Dex as its authorization server, and the connect pages mounted; the
// browser's signed-in employee is the X-Test-User cookie.
type oauthGateway struct {
	*testGateway
	dex *dex.Dex
	up  *dexUpstream
}

func startOAuthGateway(t *testing.T) *oauthGateway { return startOAuthGatewayWith(t, nil) }

func startOAuthGatewayWith(t *testing.T, edit func(*Options, *config.Server)) *oauthGateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	client := dex.DexClient{ID: dexUpstreamClient, Secret: "tasks-secret", RedirectURIs: []string{base + connections.PathCallback + "/tasks"}}
	d := dex.StartDex(t, []dex.DexClient{client}, []dex.DexUser{dexAlice, dexBob})
	up := startDexUpstream(t, d)
	st, err := store.OpenFile(filepath.Join(t.TempDir(), "store.db"), &store.Options{PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	vault, err := store.NewVault(st, [][]byte{bytes.Repeat([]byte{9}, store.VaultKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{signedInByHeader}
	s := upstreamConfig("tasks", up.URL)
	s.Auth = &config.UpstreamAuth{Kind: config.AuthOAuth, Scopes: []config.UpstreamScope{
		{Name: "openid", Level: config.ScopeLevelRead}, {Name: "email", Level: config.ScopeLevelRead}, {Name: "offline_access", Level: config.ScopeLevelRead}}}
	if edit != nil {
		edit(opts, &s)
	}
	var gw *testGateway // set below; the manager's callbacks run only after
	m, err := connections.New(connections.Options{
		Upstreams: []connections.Upstream{{Name: "tasks", URL: up.URL, AuthorizationServer: d.Issuer, ClientID: client.ID,
			ClientSecret: func() (string, error) { return client.Secret, nil }, AllowInsecureHTTP: true}},
		Vault: vault, Store: st, BaseURL: base, Logger: opts.Logger,
		Identity: func(r *http.Request) (*authn.Identity, bool) {
			c, err := r.Cookie("X-Test-User")
			for _, id := range []*authn.Identity{alice, bob} {
				if err == nil && c.Value == id.Subject {
					return id, true
				}
			}
			return nil, false
		},
		Scopes: func(ctx context.Context, upstream string, id *authn.Identity) ([]string, error) {
			return gw.ConnectScopes(ctx, upstream, id)
		},
		Connected: func(id *authn.Identity, upstream, elicitation string) {
			gw.ElicitationComplete(id, upstream, elicitation)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Connections = m
	opts.Routes = map[string]http.Handler{}
	for _, p := range m.Paths() {
		opts.Routes[p] = m.Handler()
	}
	gw = startGatewayOn(t, ln, opts, func(c *config.Config) {
		c.PublicURL = base
		c.Servers = []config.Server{noPrefix(s)}
	})
	if st := upstreamState(gw.Gateway, "tasks"); st != StateReady {
		t.Fatalf("upstream is %s: the pooled session must list anonymously: %+v", st, gw.Status())
	}
	return &oauthGateway{testGateway: gw, dex: d, up: up}
}

// authorize does in a browser signed in to the gateway as id what the
// employee does with the link: sign in to Dex as user and come back.
func (g *oauthGateway) authorize(t *testing.T, link string, id *authn.Identity, user dex.DexUser) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(link)
	jar.SetCookies(u, []*http.Cookie{{Name: "X-Test-User", Value: id.Subject}})
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("connect link: %d without a redirect to the authorization server", resp.StatusCode)
	}
	cb, err := g.dex.SignIn(context.Background(), c, loc.String(), user.Email, user.Password)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
}

// urlElicitation returns the single URL elicitation of a -32042 error.
func urlElicitation(t *testing.T, err error) *mcp.ElicitParams {
	t.Helper()
	rpcErr := rpcError(t, err)
	if rpcErr.Code != mcp.CodeURLElicitationRequired {
		t.Fatalf("error %d %q, want -32042 URL elicitation required", rpcErr.Code, rpcErr.Message)
	}
	var data struct {
		Elicitations []*mcp.ElicitParams `json:"elicitations"`
	}
	if err := json.Unmarshal(rpcErr.Data, &data); err != nil || len(data.Elicitations) != 1 {
		t.Fatalf("error data %s: want one elicitation", rpcErr.Data)
	}
	e := data.Elicitations[0]
	if e.Mode != "url" || e.ElicitationID == "" || !strings.Contains(e.URL, connections.PathStart) || e.Message == "" {
		t.Fatalf("elicitation %+v: want mode url, an id, the connect link and a message", e)
	}
	return e
}

// The -32042 flow end to end with go-sdk's client in both eras: the first
// call asks for a URL elicitation; the employee connects in the browser
// (Dex's login form); a 2025 session is told the elicitation completed;
// the retry reaches the upstream with the employee's own Dex token. Two
// employees never share a token, and no gateway token goes upstream.
func TestOAuthUpstreamURLElicitationFlow(t *testing.T) {
	t.Parallel()
	g := startOAuthGateway(t)
	subjects := map[string]string{}
	for _, tc := range []struct {
		era, version string
		id           *authn.Identity
		user         dex.DexUser
	}{{"2025-11-25", legacy, alice, dexAlice}, {"2026-07-28", modern, bob, dexBob}} {
		t.Run(tc.era, func(t *testing.T) {
			completed := make(chan string, 1)
			opts := &mcp.ClientOptions{
				Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
				ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					return &mcp.ElicitResult{Action: "decline"}, nil
				},
				ElicitationCompleteHandler: func(_ context.Context, req *mcp.ElicitationCompleteNotificationRequest) {
					completed <- req.Params.ElicitationID
				},
			}
			cs := connectWith(t, g.URL, tc.version, opts, employeeHTTPClient(tc.id))
			_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "whoami"})
			e := urlElicitation(t, err)
			g.authorize(t, e.URL, tc.id, tc.user)
			if tc.version == legacy {
				select {
				case got := <-completed:
					if got != e.ElicitationID {
						t.Fatalf("elicitation complete for %q, want %q", got, e.ElicitationID)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("no notifications/elicitation/complete on the 2025 session")
				}
			}
			subjects[tc.id.Subject] = whoami(t, cs)
		})
	}
	if subjects["alice"] == "" || subjects["alice"] == subjects["bob"] {
		t.Fatalf("upstream subjects %q: each employee must arrive with their own Dex token", subjects)
	}
	noEmployeeToken(t, g.up.headers())
}

// A link is bound to the employee it was made for: bob cannot connect
// with alice's link, and alice's calls still ask her to connect.
func TestOAuthUpstreamLinkBoundToEmployee(t *testing.T) {
	t.Parallel()
	g := startOAuthGateway(t)
	cs := connectAs(t, g.testGateway, legacy, alice)
	_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "whoami"})
	e := urlElicitation(t, err)
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(e.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "X-Test-User", Value: "bob"}})
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice's link in bob's browser: %d, want 403", resp.StatusCode)
	}
	_, err = cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "whoami"})
	if e2 := urlElicitation(t, err); e2.ElicitationID == e.ElicitationID {
		t.Fatal("a new call must get a new elicitation")
	}
}

// The -32042 flow with the TypeScript SDK's clients: @modelcontextprotocol/sdk
// 1.x (2025-11-25) and @modelcontextprotocol/client 2.x pinned to
// 2026-07-28. The error arrives as the SDK's URL elicitation error, the
// employee authorizes in the browser, a 2025 session is told the
// elicitation completed, and the retry reaches the upstream with the
// employee's own token.
func TestOAuthUpstreamURLElicitationTypeScriptClients(t *testing.T) {
	t.Parallel()
	node22 := node.Node22(t)
	g := startOAuthGateway(t)
	for _, tc := range []struct {
		name, script, prefix, pkg, protocol string
		id                                  *authn.Identity
		user                                dex.DexUser
	}{
		{"sdk 1.x, 2025-11-25", "testdata/connect_client.mjs", node.TSSDKPackage, node.TSSDK, "2025-11-25", alice, dexAlice},
		{"client 2.x, 2026-07-28", "testdata/connect_client_v2.mjs", node.TSClientPackage, node.TSClient, "2026-07-28", bob, dexBob},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := node.ScriptWithModules(t, tc.script, node.NPMModules(t, tc.prefix, tc.pkg))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := testtools.CommandContext(ctx, node22, script)
			cmd.Env = append(node.Env(t, node22), "MCP_URL="+g.URL, "TEST_USER="+tc.id.Subject, "TOOL=whoami", "PROTOCOL="+tc.protocol)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Wait() }()
			out := json.NewDecoder(stdout)
			var first struct {
				Code        int64             `json:"code"`
				Elicitation *mcp.ElicitParams `json:"elicitation"`
				Protocol    string            `json:"protocol"`
				Fatal       string            `json:"fatal"`
			}
			if err := out.Decode(&first); err != nil || first.Fatal != "" || first.Elicitation == nil {
				t.Fatalf("first line: %+v, %v; stderr: %s", first, err, stderr.String())
			}
			if first.Code != mcp.CodeURLElicitationRequired || first.Elicitation.Mode != "url" || !strings.Contains(first.Elicitation.URL, connections.PathStart) {
				t.Fatalf("the TypeScript client saw %d %+v, want -32042 with a url elicitation to the connect page", first.Code, first.Elicitation)
			}
			if tc.protocol == "2026-07-28" && first.Protocol != tc.protocol {
				t.Fatalf("the client negotiated %s, want %s", first.Protocol, tc.protocol)
			}
			g.authorize(t, first.Elicitation.URL, tc.id, tc.user)
			if _, err := io.WriteString(stdin, "authorized\n"); err != nil {
				t.Fatal(err)
			}
			var second struct {
				Result    string   `json:"result"`
				IsError   bool     `json:"is_error"`
				Completed []string `json:"completed"`
				Fatal     string   `json:"fatal"`
			}
			if err := out.Decode(&second); err != nil || second.Fatal != "" {
				t.Fatalf("second line: %+v, %v; stderr: %s", second, err, stderr.String())
			}
			if tc.protocol < "2026-07-28" && !slices.Equal(second.Completed, []string{first.Elicitation.ElicitationID}) {
				t.Errorf("elicitation complete notifications %q, want %q", second.Completed, first.Elicitation.ElicitationID)
			}
			if second.IsError || second.Result == "" || second.Result == tc.id.Subject {
				t.Fatalf("retry: %+v: want the upstream's answer with the employee's Dex subject", second)
			}
		})
	}
	noEmployeeToken(t, g.up.headers())
}

// stagedScoper allows every request. It grants every catalogue scope but
// groups for calls; groups also on the connect page once connectGroups is
// set.
type stagedScoper struct {
	AllowAll
	connectGroups atomic.Bool
}

func (s *stagedScoper) UpstreamScopes(ctx context.Context, in *policy.Input) policy.GrantDecision {
	g := s.AllowAll.UpstreamScopes(ctx, in)
	if in.Method == policy.MethodUpstreamToken || !s.connectGroups.Load() {
		g.Scopes = slices.DeleteFunc(g.Scopes, func(name string) bool { return name == "groups" })
	}
	return g
}

// connectAlice connects alice to tasks through the -32042 flow on a 2025
// session, and returns the session.
func (g *oauthGateway) connectAlice(t *testing.T) *mcp.ClientSession {
	t.Helper()
	cs := connectAs(t, g.testGateway, legacy, alice)
	_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "whoami"})
	g.authorize(t, urlElicitation(t, err).URL, alice, dexAlice)
	return cs
}

// An upstream's 403 insufficient_scope: a scope policy does not let the
// employee grant is refused with the reason; once policy lets them, the
// call asks them to connect again with it, and the retry succeeds; a
// refusal for a scope the connection has is the upstream's answer, not a
// new elicitation (no loop).
func TestOAuthUpstreamStepUpOnInsufficientScope(t *testing.T) {
	t.Parallel()
	scoper := &stagedScoper{}
	g := startOAuthGatewayWith(t, func(o *Options, s *config.Server) {
		o.Authorizer = scoper
		s.Auth.Scopes = append(s.Auth.Scopes, config.UpstreamScope{Name: "groups", Level: config.ScopeLevelRead})
	})
	cs := g.connectAlice(t)
	sub := whoami(t, cs)

	_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "team"})
	if rpcErr := rpcError(t, err); rpcErr.Code != CodeDenied || !strings.Contains(rpcErr.Message, "groups") {
		t.Fatalf("a scope policy does not grant: %d %q, want denied naming groups", rpcErr.Code, rpcErr.Message)
	}

	scoper.connectGroups.Store(true)
	_, err = cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "team"})
	e := urlElicitation(t, err)
	if !strings.Contains(e.Message, "groups") {
		t.Errorf("elicitation message %q does not say which access is missing", e.Message)
	}
	g.authorize(t, e.URL, alice, dexAlice)
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "team"})
	if err != nil || res.IsError || textOf(t, res) != "team of "+sub {
		t.Fatalf("team after connecting with groups: %v %+v", err, res)
	}

	_, err = cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "stubborn"})
	if err == nil {
		t.Fatal("stubborn succeeded")
	}
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) && rpcErr.Code == mcp.CodeURLElicitationRequired {
		t.Fatalf("a refusal for a scope the connection has asked to connect again: %v", err)
	}
}

// An upstream that refuses the employee's token once (revoked) gets a
// refreshed one on the retry, transparently.
func TestOAuthUpstreamRetryAfter401(t *testing.T) {
	t.Parallel()
	g := startOAuthGateway(t)
	cs := g.connectAlice(t)
	whoami(t, cs)
	before := len(g.up.headers())
	g.up.mu.Lock()
	g.up.rejectNext = true
	g.up.mu.Unlock()
	whoami(t, cs)
	var bearers []string
	for _, h := range g.up.headers()[before:] {
		if strings.HasPrefix(h, "Bearer ") && !slices.Contains(bearers, h) {
			bearers = append(bearers, h)
		}
	}
	if len(bearers) != 2 {
		t.Fatalf("the upstream saw %d distinct tokens after refusing one, want the refused one and a refreshed one", len(bearers))
	}
}

// No employee token, upstream token or secret appears in the gateway's
// logs (debug level) or spans, through connecting, calling, a refusal
// and a refresh.
func TestOAuthUpstreamTokensNeverLoggedOrTraced(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	rec := tracetest.NewSpanRecorder()
	g := startOAuthGatewayWith(t, func(o *Options, _ *config.Server) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	})
	cs := g.connectAlice(t)
	whoami(t, cs)
	g.up.mu.Lock()
	g.up.rejectNext = true
	g.up.mu.Unlock()
	whoami(t, cs) // refused once, refreshed
	var secrets []string
	for _, h := range g.up.headers() {
		if token, ok := strings.CutPrefix(h, "Bearer "); ok {
			secrets = append(secrets, token)
		}
	}
	if len(secrets) < 2 {
		t.Fatalf("the upstream saw %d tokens, want at least the first and the refreshed one", len(secrets))
	}
	secrets = append(secrets, "employee-token-alice", "tasks-secret")
	var traced strings.Builder
	for _, span := range rec.Ended() {
		fmt.Fprintf(&traced, "%s %v %v %v\n", span.Name(), span.Attributes(), span.Events(), span.Status())
	}
	for _, secret := range secrets {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret (%.12s…)", secret)
		}
		if strings.Contains(traced.String(), secret) {
			t.Errorf("a span holds a secret (%.12s…)", secret)
		}
	}
	if !strings.Contains(logs.String(), "employee connected an upstream") {
		t.Error("the log does not record the connection: the check above read nothing")
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
