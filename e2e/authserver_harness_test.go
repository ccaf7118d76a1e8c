package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/demo"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/dex"
)

// asAlice is the employee of the authorization-server tests. Her group,
// engineering, has level write on notes in the shipped library's data: the
// policy grants her notes:read and notes:write, never notes:delete or hr.
var asAlice = dex.DexUser{Email: "alice@example.com", Username: "alice", Password: "alice-password",
	Groups: []string{"engineering"}}

// asGatewayClient is the gateway's client at Dex: the one client an
// authorization server registers at the corporate IdP.
var asGatewayClient = dex.DexClient{ID: "mcpgate", Secret: "mcpgate-idp-secret"}

// asClientRedirect is the redirect URI of the MCP clients of these tests:
// nobody listens there, the scripted browsers stop at it.
const asClientRedirect = "http://127.0.0.1:9/callback"

// asScopes is the scope catalogue of `mcpgate dev` (cmd/mcpgate devScopes).
const asScopes = `scopes:
  - {name: "notes:read", description: Read your notes, server: notes, level: read}
  - {name: "notes:write", description: Create and change notes, server: notes, level: write}
  - {name: "notes:delete", description: Delete notes, server: notes, level: all}
  - {name: hr, description: Look up employees and salary reports, server: hr, level: all}
`

// asFixture is what gateways in authorization-server mode share: Dex as
// the corporate IdP, with the gateway's client registered for the public
// URL's callback, the demo upstreams, the shipped policy library, a
// signing key and the IdP client's secret.
type asFixture struct {
	bin       string
	publicURL string
	dex       *dex.Dex
	demos     []*demo.Server
	dir       string
	library   string
	keyFile   string
	secret    string
}

// newASFixture starts Dex and the demo upstreams for gateways whose
// public URL is publicURL.
func newASFixture(t *testing.T, publicURL string) *asFixture {
	t.Helper()
	f := &asFixture{bin: mcpgateBinary(t), publicURL: publicURL, dir: t.TempDir()}
	client := asGatewayClient
	client.RedirectURIs = []string{publicURL + "/oauth/callback"}
	f.dex = dex.StartDex(t, []dex.DexClient{client}, []dex.DexUser{asAlice})
	f.demos = startDemos(t)
	var err error
	if f.library, err = filepath.Abs("../rego"); err != nil {
		t.Fatal(err)
	}
	f.keyFile = writeTestFile(t, f.dir, "signing-key.pem", string(newSigningKeyPEM(t)))
	f.secret = writeTestFile(t, f.dir, "idp-client-secret", asGatewayClient.Secret+"\n")
	return f
}

// startDemos starts the demo upstreams notes and hr until the end of t.
func startDemos(t *testing.T) []*demo.Server {
	t.Helper()
	demos, err := demo.StartAll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range demos {
			d.Close()
		}
	})
	return demos
}

// newSigningKeyPEM returns a fresh ECDSA P-256 key in PKCS#8 PEM, as
// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes.
func newSigningKeyPEM(t *testing.T) []byte {
	t.Helper()
	_, pem := testtools.SigningKeyPEM(t)
	return pem
}

// config returns the configuration of a gateway listening on listen, with
// store (a YAML flow mapping) and its decision log at decisionLog ("none"
// for none). Policy evaluations may take testPolicyTimeout.
func (f *asFixture) config(listen, store, decisionLog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `listen: %q
public_url: %q
readyz_detail: true
store: %s
auth:
  challenge_scopes: ["notes:read"]
authorization_server:
  enabled: true
  idp:
    issuer: %q
    client_id: %q
    client_secret: {value_from_file: %q}
    scopes: [openid, email, profile, groups]
  signing_keys:
    - value_from_file: %q
  client_id_metadata_documents: {allow_private_addresses: true}
policy: {dir: %q, decision_log: %q, timeout: %s}
%sservers:
`, listen, f.publicURL, store, f.dex.Issuer, asGatewayClient.ID, f.secret, f.keyFile, f.library, decisionLog,
		testPolicyTimeout, asScopes)
	for _, d := range f.demos {
		fmt.Fprintf(&b, "  - name: %s\n    url: %q\n    allow_insecure_http: true\n", d.Name, d.URL)
	}
	return b.String()
}

// start runs `mcpgate serve` named name on addr with store, env added to
// the test's environment, and its decision log at the returned path; it
// returns once the upstreams are ready.
func (f *asFixture) start(t *testing.T, name, addr, store string, env ...string) (*testtools.Server, string) {
	t.Helper()
	decisions := filepath.Join(f.dir, name+"-decisions.jsonl")
	cfg := writeTestFile(t, f.dir, name+".yaml", f.config(addr, store, decisions))
	cmd := exec.Command(f.bin, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	srv := testtools.StartServerAt(t, "mcpgate serve "+name, addr, cmd)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitUpstreamReady(t, ctx, "http://"+addr)
	return srv, decisions
}

// browser returns an HTTP client that keeps cookies and does not follow
// redirects: the scripted sign-in follows them itself.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// grantLine is a decision-log line of phase grant.
type grantLine struct {
	Phase   string   `json:"phase"`
	UserSub string   `json:"user_sub"`
	Target  string   `json:"target"`
	Granted []string `json:"granted"`
	Input   struct {
		Grant struct {
			Requested []string `json:"requested"`
			Current   []string `json:"current"`
			Reason    string   `json:"reason"`
		} `json:"grant"`
	} `json:"input"`
}

// grantLines reads the grant decisions of a decision log.
func grantLines(t *testing.T, path string) []grantLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []grantLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"phase":"grant"`) {
			continue
		}
		var l grantLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("decision log line %s: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
