package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/testidp"
)

// grantEverything is the data of the shipped policy library that gives the
// group "admin" every tool, prompt and resource of every server: the suite
// exercises everything, and everything must pass through the policy.
const grantEverything = `{"mcpgate": {"config": {"groups": {"admin": {"servers": {"*": {
  "tools": {"*": "all"}, "prompts": {"*": true}, "resources": {"*": true}}}}}}}}`

// testPolicyTimeout bounds a policy evaluation of the gateways these tests
// run: not the 100 ms default, since under -race on a loaded 2-core machine
// an evaluation now and then takes longer, and the suites test the
// protocol, not the policy timeout.
const testPolicyTimeout = 5 * time.Second

// startGateway runs the real binary, `mcpgate serve`, on loopback in front
// of one upstream, as users run it: sign-in through an OIDC provider (the
// development provider), the policy library built into the binary with a
// grant for everything to the demo user carol (group admin), the decision
// of every request logged. It returns the MCP URL of a small proxy that
// adds carol's bearer token to every request, because the conformance
// suite and the plain clients here send none; the proxy's URL is the
// gateway's public URL. With passThrough the upstream's names are not
// prefixed, as the conformance suite expects its fixture's names.
func startGateway(t *testing.T, upstreamURL string, passThrough bool) string {
	t.Helper()
	bin := mcpgateBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	proxy := httptest.NewUnstartedServer(nil)
	public := "http://" + proxy.Listener.Addr().String()
	idp := testidp.Start(t, public+"/mcp")
	dir := t.TempDir()
	writeTestFile(t, dir, "policy/data.json", grantEverything)
	prefix := ""
	if passThrough {
		prefix = `prefix: ""`
	}
	gw := testtools.StartServer(t, "mcpgate serve", func(addr string) *exec.Cmd {
		cfg := fmt.Sprintf(`listen: %q
public_url: %q
readyz_detail: true
auth:
  issuers:
    - issuer: %q
policy: {dir: %q, library: builtin, timeout: %s, decision_log: %q}
servers:
  - name: upstream
    url: %q
    allow_insecure_http: true
    timeout: 30s
    %s
`, addr, public, idp.Issuer(), filepath.Join(dir, "policy"), testPolicyTimeout, filepath.Join(dir, "decisions.log"), upstreamURL, prefix)
		return exec.Command(bin, "serve", "--config", writeTestFile(t, dir, "mcpgate.yaml", cfg))
	})
	waitUpstreamReady(t, ctx, "http://"+gw.Addr)

	// The suite must test the production path: without the proxy's token
	// the gateway refuses.
	resp, err := http.Post("http://"+gw.Addr+"/mcp", "application/json", nil)
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
	withBearer(t, proxy, "http://"+gw.Addr, token)
	return public + "/mcp"
}

// withBearer starts hs, unstarted, as a reverse proxy to target that sets
// the Authorization header of every request to token and keeps everything
// else (Host and Origin included, which the suite's DNS-rebinding checks
// rely on).
func withBearer(t *testing.T, hs *httptest.Server, target, token string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
			r.Out.Header.Set("Authorization", "Bearer "+token)
		},
		FlushInterval: -1,
	}
	hs.Start()
	t.Cleanup(hs.Close)
}
