package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Protocol revisions the tests speak downstream.
const (
	legacy = "2025-11-25"
	modern = "2026-07-28"
)

var eras = map[string]string{"2025-11-25": legacy, "2026-07-28": modern}

// testUpstream is a go-sdk server on loopback, served in both eras like a
// real upstream, that records the headers of every request it receives and
// can forget its sessions or be stopped and restarted on the same address.
type testUpstream struct {
	t      testing.TB
	server *mcp.Server
	addr   string
	URL    string
	// legacyOnly serves only the stateful handler, as a server of the 2025
	// revisions does.
	legacyOnly bool

	mu       sync.Mutex
	handler  http.Handler
	headers  []http.Header
	httpSrv  *http.Server
	stopOnce *sync.Once
}

func startUpstream(t testing.TB, srv *mcp.Server) *testUpstream {
	return startUpstreamEra(t, srv, false)
}

func startLegacyUpstream(t testing.TB, srv *mcp.Server) *testUpstream {
	return startUpstreamEra(t, srv, true)
}

func startUpstreamEra(t testing.TB, srv *mcp.Server, legacyOnly bool) *testUpstream {
	t.Helper()
	u := &testUpstream{t: t, server: srv, addr: "127.0.0.1:0", legacyOnly: legacyOnly}
	u.start()
	t.Cleanup(u.stop)
	return u
}

func (u *testUpstream) newHandler() http.Handler {
	get := func(*http.Request) *mcp.Server { return u.server }
	stateful := mcp.NewStreamableHTTPHandler(get, nil)
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true, PropagateRequestCancellation: true})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !u.legacyOnly && r.Header.Get("Mcp-Protocol-Version") >= modern {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
}

func (u *testUpstream) start() {
	u.t.Helper()
	ln, err := net.Listen("tcp4", u.addr)
	if err != nil {
		u.t.Fatalf("upstream listen on %s: %v", u.addr, err)
	}
	u.mu.Lock()
	u.addr = ln.Addr().String()
	u.URL = "http://" + u.addr + "/mcp"
	u.handler = u.newHandler()
	u.httpSrv = &http.Server{Handler: http.HandlerFunc(u.serve)}
	u.stopOnce = new(sync.Once)
	srv := u.httpSrv
	u.mu.Unlock()
	go srv.Serve(ln)
}

func (u *testUpstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.headers = append(u.headers, r.Header.Clone())
	h := u.handler
	u.mu.Unlock()
	h.ServeHTTP(w, r)
}

// stop closes the listener and every connection at once, as a crash would.
func (u *testUpstream) stop() {
	u.mu.Lock()
	srv, once := u.httpSrv, u.stopOnce
	u.mu.Unlock()
	once.Do(func() { srv.Close() })
}

// forgetSessions replaces the stateful handler, so every existing session id
// gets 404 as after an upstream restart.
func (u *testUpstream) forgetSessions() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.handler = u.newHandler()
}

func (u *testUpstream) seenHeaders() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.headers...)
}

func upstreamConfig(name, url string) config.Server {
	return config.Server{
		Name:              name,
		URL:               url,
		Transport:         config.TransportStreamableHTTP,
		AllowInsecureHTTP: true,
		Timeout:           config.Duration(20 * time.Second),
	}
}

func noPrefix(s config.Server) config.Server {
	empty := ""
	s.Prefix = &empty
	return s
}

type testGateway struct {
	*Gateway
	URL string
}

// testUser is the caller of every request through a gateway built with
// testOptions: the gateway refuses requests without a verified identity,
// whatever the Authorizer.
var testUser = &authn.Identity{Issuer: "https://idp.test", Subject: "tester", Groups: []string{"everyone"}}

// signedIn stands in for the bearer middleware: every request is taken as
// testUser's. The client's own Authorization header, if any, is kept, so
// tests can check that it never reaches an upstream.
func signedIn(next http.Handler) http.Handler {
	verify := func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		return authn.NewTokenInfo(testIdentity(ctx)), nil
	}
	inner := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(authn.NewContext(r.Context(), testIdentity(r.Context())))
		if r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer test")
		}
		inner.ServeHTTP(w, r)
	})
}

type testIdentityKey struct{}

// withTestIdentity makes signedIn sign requests in as id instead of testUser.
func withTestIdentity(ctx context.Context, id *authn.Identity) context.Context {
	return context.WithValue(ctx, testIdentityKey{}, id)
}

func testIdentity(ctx context.Context) *authn.Identity {
	if id, ok := ctx.Value(testIdentityKey{}).(*authn.Identity); ok {
		return id
	}
	return testUser
}

func testOptions() *Options {
	return &Options{
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authorizer:     AllowAll{},
		HTTPMiddleware: []func(http.Handler) http.Handler{signedIn},
		ProbeInterval:  200 * time.Millisecond,
		MinBackoff:     20 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
	}
}

// startGateway runs a gateway for servers on loopback and waits until every
// upstream has been tried once.
func startGateway(t testing.TB, opts *Options, servers ...config.Server) *testGateway {
	t.Helper()
	return startGatewayConfig(t, opts, func(c *config.Config) { c.Servers = servers })
}

func startGatewayConfig(t testing.TB, opts *Options, edit func(*config.Config)) *testGateway {
	t.Helper()
	return startGatewayOn(t, nil, opts, edit)
}

// loopbackListener listens on a free port of 127.0.0.1, for a gateway that
// must know its own address (public_url) before it starts.
func loopbackListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startGatewayOn is startGatewayConfig on ln, or on a new loopback
// listener when ln is nil.
func startGatewayOn(t testing.TB, ln net.Listener, opts *Options, edit func(*config.Config)) *testGateway {
	t.Helper()
	cfg := config.Default()
	cfg.ReadyzDetail = true // the tests read upstream states from /readyz
	edit(cfg)
	if opts == nil {
		opts = testOptions()
	}
	g, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.Start(ctx)
	hs := httptest.NewUnstartedServer(g.Handler())
	if ln != nil {
		hs.Listener.Close()
		hs.Listener = ln
	}
	hs.Start()
	t.Cleanup(func() {
		hs.CloseClientConnections()
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		g.Close(cctx)
		hs.Close()
		cancel()
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := g.WaitSettled(wctx); err != nil {
		t.Fatalf("upstreams did not settle: %v", err)
	}
	return &testGateway{Gateway: g, URL: hs.URL + "/mcp"}
}

// connect opens a client session with the gateway in the given era.
func connect(t testing.TB, url, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	return connectWith(t, url, version, opts, nil)
}

func connectWith(t testing.TB, url, version string, opts *mcp.ClientOptions, hc *http.Client) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect %s (%s): %v", url, version, err)
	}
	t.Cleanup(func() { cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		t.Fatalf("negotiated protocol %s, want %s", got, version)
	}
	return cs
}

func toolNames(t testing.TB, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		names = append(names, tool.Name)
	}
	return names
}

func textOf(t testing.TB, res *mcp.CallToolResult) string {
	t.Helper()
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// eventually polls cond until it holds; the deadline only bounds a failing
// test, it is not a timing assertion. Use it only for a state the gateway
// reaches with no event a test can wait on: an upstream's health state, a
// session's end seen by the SDK's session table, a replica forgetting a
// session, the list that follows a list_changed, the refusal that starts
// with Close. Where the code offers a signal (a decision log's Close, a
// client handler, an upstream handler, a span processor) wait on that.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func osWriteFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }

// newLoopbackServer serves h on 127.0.0.1 for the test.
func newLoopbackServer(t testing.TB, h http.Handler) *httptest.Server {
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

// postMCP POSTs body to the gateway at url as a Streamable HTTP client
// would (JSON, accepting both answers), with header on top, and returns
// the answer's status and body.
func postMCP(t testing.TB, url, body string, header map[string]string) (int, string) {
	t.Helper()
	status, _, got := postMCPHeader(t, url, body, header)
	return status, got
}

// postMCPHeader is postMCP returning the answer's header too.
func postMCPHeader(t testing.TB, url, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// sessionHeader is the header of a request of a 2025 session (none
// without one).
func sessionHeader(session string) map[string]string {
	if session == "" {
		return map[string]string{}
	}
	return map[string]string{"Mcp-Session-Id": session, "Mcp-Protocol-Version": legacy}
}

// rpcPeek is what a test upstream reads of a request body to decide how
// to answer: its id, method, and the name its params name.
type rpcPeek struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name string `json:"name"`
	} `json:"params"`
}
