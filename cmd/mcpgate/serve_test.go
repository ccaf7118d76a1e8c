package main

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/demo"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/testidp"
	"github.com/mcpgate/mcpgate/policy"
)

// testIssuer runs the development identity provider on its own loopback
// server, as a real issuer for serve's tests, tokens for audience.
func testIssuer(t *testing.T, audience string) *devidp.Provider { return testidp.Start(t, audience) }

// demoConfig returns a configuration listening on listen whose servers are
// the demo servers, whose issuer is idp and whose policy is the shipped
// library directory rego/.
func demoConfig(t *testing.T, listen string, idp *devidp.Provider) string {
	t.Helper()
	lib, err := filepath.Abs("../../rego")
	if err != nil {
		t.Fatal(err)
	}
	return demoConfigPolicy(t, listen, idp, fmt.Sprintf("{dir: %q, decision_log: none}", lib))
}

// demoConfigPolicy is demoConfig with the given policy section (flow YAML).
func demoConfigPolicy(t *testing.T, listen string, idp *devidp.Provider, policy string) string {
	t.Helper()
	demos, err := demo.StartAll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range demos {
			if err := d.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\nshutdown_grace: 5s\nreadyz_detail: true\npolicy: %s\n", listen, policy)
	if idp != nil {
		fmt.Fprintf(&b, "auth:\n  issuers:\n    - issuer: %q\n", idp.Issuer())
	}
	b.WriteString("servers:\n")
	for _, d := range demos {
		fmt.Fprintf(&b, "  - name: %s\n    url: %q\n    allow_insecure_http: true\n", d.Name, d.URL)
	}
	return writeFile(t, t.TempDir(), "mcpgate.yaml", b.String())
}

// boundListener binds 127.0.0.1 on a free port. A configuration may not name
// port 0, so the test binds first and hands the listener to serve.
func boundListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestServe(t *testing.T) {
	t.Parallel()
	ln := boundListener(t)
	idp := testIssuer(t, "http://"+ln.Addr().String()+"/mcp")
	r := serveDemo(t, ln, idp, demoConfig(t, ln.Addr().String(), idp))
	want := fmt.Sprintf(`"msg":"mcpgate listening","addr":"%s","mcp_url":"http://%[1]s/mcp"`, ln.Addr())
	if !strings.Contains(r.err.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, r.err.String())
	}
	if code := r.stop(t); code != exitOK {
		t.Errorf("exit code after cancel = %d, want 0; stderr:\n%s", code, r.err.String())
	}
}

// TestServeBuiltinLibrary serves with policy.library builtin and a
// directory holding only the organisation's data (here the demo data): the
// demo policy outcome holds, so the library came from the binary.
func TestServeBuiltinLibrary(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../rego/data.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "data.json", string(data))
	ln := boundListener(t)
	idp := testIssuer(t, "http://"+ln.Addr().String()+"/mcp")
	r := serveDemo(t, ln, idp, demoConfigPolicy(t, ln.Addr().String(), idp, fmt.Sprintf("{dir: %q, library: builtin, decision_log: none}", dir)))
	if code := r.stop(t); code != exitOK {
		t.Errorf("exit code after cancel = %d, want 0; stderr:\n%s", code, r.err.String())
	}
}

// TestServeScopeCatalogue: the configuration's scope catalogue reaches the
// policy's call inputs. alice's token carries no scope: writing a note is
// answered 403 insufficient_scope asking for notes:write.
func TestServeScopeCatalogue(t *testing.T) {
	t.Parallel()
	ln := boundListener(t)
	idp := testIssuer(t, "http://"+ln.Addr().String()+"/mcp")
	raw, err := os.ReadFile(demoConfig(t, ln.Addr().String(), idp))
	if err != nil {
		t.Fatal(err)
	}
	catalogue := "scopes:\n  - {name: 'notes:write', server: notes, level: write}\n"
	te := newTestEnv(nil)
	te.listen = func(context.Context, string) (net.Listener, error) { return ln, nil }
	r := start(t, te, "serve", "--config", writeFile(t, t.TempDir(), "mcpgate.yaml", string(raw)+catalogue))
	checkReady(t, r.baseURL())
	token, _, err := idp.Token("alice")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notes__write_note","arguments":{"id":"x","body":"y"},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, r.baseURL()+"/mcp", strings.NewReader(body))
	for k, v := range map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json",
		"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2026-07-28",
		"Mcp-Method": "tools/call", "Mcp-Name": "notes__write_note"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(got, `error="insufficient_scope"`) || !strings.Contains(got, `scope="notes:write"`) {
		t.Errorf("status %d, WWW-Authenticate %q; want 403 insufficient_scope for notes:write", resp.StatusCode, got)
	}
	if code := r.stop(t); code != exitOK {
		t.Errorf("exit code after cancel = %d, want 0; stderr:\n%s", code, r.err.String())
	}
}

func TestScopeCatalogueLevels(t *testing.T) {
	t.Parallel()
	got := scopeCatalogue([]config.Scope{{Name: "a", Server: "*"}, {Name: "b", Description: "d", Server: "notes", Level: "read"}})
	want := []policy.Scope{{Name: "a", Server: "*", Level: "all"}, {Name: "b", Description: "d", Server: "notes", Level: "read"}}
	if !slices.Equal(got, want) || scopeCatalogue(nil) != nil {
		t.Errorf("scopeCatalogue = %+v, want %+v (and nil for none)", got, want)
	}
}

// TestServeBuiltinLibraryConflict: a directory holding a copy of the
// library, with policy.library builtin, is refused with both names.
func TestServeBuiltinLibraryConflict(t *testing.T) {
	t.Parallel()
	lib, err := filepath.Abs("../../rego")
	if err != nil {
		t.Fatal(err)
	}
	ln := boundListener(t)
	path := demoConfigPolicy(t, ln.Addr().String(), testIssuer(t, "http://"+ln.Addr().String()+"/mcp"),
		fmt.Sprintf("{dir: %q, library: builtin, decision_log: none}", lib))
	te := newTestEnv(nil)
	te.listen = func(context.Context, string) (net.Listener, error) { return ln, nil }
	code, stderr := runEnv(t.Context(), []string{"serve", "--config", path}, &te.env), te.err.String()
	want := "policy.dir (with policy.library: builtin): policy: load: " + lib + ": " + filepath.Join(lib, "access.rego") + " has the name of the library's module library:access.rego"
	if code != exitFail || !strings.Contains(stderr, want) {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1 and %q", code, stderr, want)
	}
}

// serveDemo runs serve with the configuration at path on ln and checks the
// gateway for alice, as the demo policy decides.
func serveDemo(t *testing.T, ln net.Listener, idp *devidp.Provider, path string) *running {
	t.Helper()
	te := newTestEnv(nil)
	te.listen = func(_ context.Context, addr string) (net.Listener, error) {
		if addr != ln.Addr().String() {
			return nil, fmt.Errorf("listen on %s, want the configured %s", addr, ln.Addr())
		}
		return ln, nil
	}
	r := start(t, te, "serve", "--config", path)
	token, _, err := idp.Token("alice")
	if err != nil {
		t.Fatal(err)
	}
	checkGateway(t, r.baseURL(), token)
	return r
}

func TestServeInvalidConfig(t *testing.T) {
	t.Parallel()
	path := writeFile(t, t.TempDir(), "bad.yaml", badConfig)
	code, stdout, stderr := runCLI(t, nil, "serve", "--config", path)
	if code != exitFail || stdout != "" {
		t.Errorf("exit code %d, stdout %q; want 1 and nothing", code, stdout)
	}
	checkProblems(t, stderr, badConfigPaths)
}

// TestServeRequiresSignIn: serve refuses a configuration without issuers.
func TestServeRequiresSignIn(t *testing.T) {
	t.Parallel()
	path := demoConfig(t, "127.0.0.1:1", nil)
	code, _, stderr := runCLI(t, nil, "serve", "--config", path)
	if code != exitFail || !strings.Contains(stderr, "auth.issuers: at least one issuer is required") {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1 and the auth.issuers problem", code, stderr)
	}
}

func TestServeAddressInUse(t *testing.T) {
	t.Parallel()
	ln := boundListener(t)
	path := demoConfig(t, ln.Addr().String(), testIssuer(t, "http://"+ln.Addr().String()+"/mcp"))
	code, _, stderr := runCLI(t, nil, "serve", "--config", path)
	if code != exitFail || !strings.Contains(stderr, `"msg":"mcpgate failed"`) || !strings.Contains(stderr, "listen") {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1 and the listen error logged", code, stderr)
	}
}

// TestRedirectHosts: the register phase's redirect_hosts name every
// redirect URI, a hostless private-use one by its scheme, so that a rule
// allowing some hosts cannot be passed with URIs that have none.
func TestRedirectHosts(t *testing.T) {
	t.Parallel()
	got := redirectHosts([]string{"http://127.0.0.1:3000/cb", "https://App.Example.com/cb", "com.evil.app:/cb", "http://127.0.0.1/other"})
	want := []string{"127.0.0.1", "app.example.com", "com.evil.app:"}
	if !slices.Equal(got, want) {
		t.Errorf("redirectHosts = %v, want %v", got, want)
	}
}

// TestServeIdentityAssertionJWKS: serve publishes the keys of
// identity_assertions at the gateway's well-known path, without sign-in.
func TestServeIdentityAssertionJWKS(t *testing.T) {
	t.Parallel()
	_, keyPEM := testtools.SigningKeyPEM(t)
	keyFile := writeFile(t, t.TempDir(), "ia.pem", string(keyPEM))
	ln := boundListener(t)
	idp := testIssuer(t, "http://"+ln.Addr().String()+"/mcp")
	path := demoConfig(t, ln.Addr().String(), idp)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(path), filepath.Base(path), string(raw)+fmt.Sprintf("identity_assertions: {signing_keys: [{value_from_file: %q}]}\n", keyFile))
	r := serveDemo(t, ln, idp, path)
	defer r.stop(t)

	resp, err := http.Get(r.baseURL() + gateway.AssertionJWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, %v", gateway.AssertionJWKSPath, resp.StatusCode, err)
	}
	if len(set.Keys) != 1 || !set.Keys[0].Valid() || !set.Keys[0].IsPublic() {
		t.Fatalf("JWKS = %+v, want the one public key", set.Keys)
	}
	tp, _ := set.Keys[0].Thumbprint(crypto.SHA256)
	if want := base64.RawURLEncoding.EncodeToString(tp); set.Keys[0].KeyID != want {
		t.Errorf("kid = %q, want the RFC 7638 thumbprint %q", set.Keys[0].KeyID, want)
	}
}
