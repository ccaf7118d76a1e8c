package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/rego"
)

// grantEverything is the data of the shipped policy library that gives the
// group "admin" every tool, prompt and resource of every server: the suite
// exercises everything, and everything must pass through the policy.
var grantEverything = map[string]any{"mcpgate": map[string]any{"config": map[string]any{
	"groups": map[string]any{"admin": map[string]any{"servers": map[string]any{"*": map[string]any{
		"tools": map[string]any{"*": "all"}, "prompts": map[string]any{"*": true}, "resources": map[string]any{"*": true},
	}}}},
}}}

// testPolicyTimeout bounds a policy evaluation of the gateways these tests
// run.
const testPolicyTimeout = 5 * time.Second

// startGateway runs mcpgate in-process on loopback in front of one upstream,
// as users run it: sign-in through an OIDC provider (the development
// provider) and the shipped policy library, with a grant for everything to
// the demo user carol (group admin). It returns the MCP URL of a small proxy
// that adds carol's bearer token to every request, because the conformance
// suite and the plain clients here send none. With passThrough the
// upstream's names are not prefixed, as the conformance suite expects its
// fixture's names.
func startGateway(t *testing.T, upstreamURL string, passThrough bool) string {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	const resource = "http://gateway.test/mcp"
	idp, idpURL := startIDP(t, resource)

	verifier, err := authn.NewVerifier(authn.Config{Resource: resource, Issuers: []authn.IssuerConfig{{Issuer: idpURL}}})
	if err != nil {
		t.Fatal(err)
	}
	// Not the 100 ms default: under -race on a loaded 2-core machine an
	// evaluation now and then takes longer, and the suites test the
	// protocol, not the policy timeout.
	engine := policy.NewEngine(policy.Options{Logger: quiet, Timeout: testPolicyTimeout})
	modules, _, err := rego.Library()
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.LoadModules(modules, grantEverything); err != nil {
		t.Fatal(err)
	}
	mw := authn.MiddlewareOptions{ResourceMetadataURL: "http://gateway.test/.well-known/oauth-protected-resource/mcp"}

	cfg := config.Default()
	s := config.Server{
		Name:              "upstream",
		URL:               upstreamURL,
		Transport:         config.TransportStreamableHTTP,
		AllowInsecureHTTP: true,
		Timeout:           config.Duration(30 * time.Second),
	}
	if passThrough {
		empty := ""
		s.Prefix = &empty
	}
	cfg.Servers = []config.Server{s}
	g, err := gateway.New(cfg, &gateway.Options{
		Logger:         quiet,
		Authorizer:     engine,
		HTTPMiddleware: []func(http.Handler) http.Handler{authn.Middleware(verifier, mw)},
		ScopeChallenge: func(w http.ResponseWriter, scopes []string, desc string) {
			authn.WriteInsufficientScope(w, mw, scopes, desc)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.Start(ctx)
	hs := httptest.NewServer(g.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		g.Close(cctx)
		hs.Close()
		cancel()
	})
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := g.WaitSettled(wctx); err != nil {
		t.Fatal(err)
	}
	if st := g.Status(); st.Upstreams[0].State != gateway.StateReady {
		t.Fatalf("upstream not ready: %+v", st.Upstreams[0])
	}
	// The suite must test the production path: without the proxy's token
	// the gateway refuses.
	resp, err := http.Post(hs.URL+"/mcp", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a request without a token: HTTP %d, want 401", resp.StatusCode)
	}
	token, _, err := idp.Token("carol")
	if err != nil {
		t.Fatal(err)
	}
	return withBearer(t, hs.URL, token) + "/mcp"
}

// startIDP serves the development OIDC provider on loopback for audience
// resource and returns it with its issuer URL.
func startIDP(t *testing.T, resource string) (*devidp.Provider, string) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + "/idp"
	idp, err := devidp.New(devidp.Options{Issuer: issuer, Audience: resource, Scopes: []string{"mcp"},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.StripPrefix("/idp", idp.Handler())}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return idp, issuer
}

// withBearer starts a reverse proxy to target that sets the Authorization
// header of every request to token and keeps everything else (Host and
// Origin included, which the suite's DNS-rebinding checks rely on); it
// returns the proxy's URL.
func withBearer(t *testing.T, target, token string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
			r.Out.Header.Set("Authorization", "Bearer "+token)
		},
		FlushInterval: -1,
	}
	hs := httptest.NewServer(proxy)
	t.Cleanup(hs.Close)
	return hs.URL
}
