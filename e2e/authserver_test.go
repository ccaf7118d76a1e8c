package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/node"
)

// tsResult is what testdata/authserver_client.mjs prints.
type tsResult struct {
	Mode       string   `json:"mode"`
	ClientID   string   `json:"client_id"`
	Steps      []tsStep `json:"steps"`
	Challenges []struct {
		Status          int    `json:"status"`
		WWWAuthenticate string `json:"www_authenticate"`
	} `json:"challenges"`
	Fatal string `json:"fatal"`
}

// tsStep is one step of the script: a sign-in (requested, granted, the
// login and consent pages seen), a listing, a refresh or a call.
type tsStep struct {
	Step            string   `json:"step"`
	Requested       string   `json:"requested"`
	Granted         string   `json:"granted"`
	Logins          int      `json:"logins"`
	Consents        int      `json:"consents"`
	Tools           []string `json:"tools"`
	NewAccessToken  bool     `json:"new_access_token"`
	NewRefreshToken bool     `json:"new_refresh_token"`
	Tool            string   `json:"tool"`
	Challenge       string   `json:"challenge"`
	Retried         bool     `json:"retried"`
	IsError         bool     `json:"is_error"`
	Text            string   `json:"text"`
	Error           string   `json:"error"`
}

// aliceTools are the tools the shipped policy shows alice (engineering:
// notes up to write).
var aliceTools = []string{"notes__list_notes", "notes__read_note", "notes__write_note"}

// TestAuthServerTypeScriptClient runs the whole authorization-server flow
// as a real client runs it: `mcpgate serve` is the OAuth authorization
// server of a client built on the TypeScript SDK (its
// StreamableHTTPClientTransport and an OAuthClientProvider), and federates
// the employee's sign-in to Dex. The script plays the browser: Dex's login
// form, the gateway's consent page. Then it refreshes, steps up to a scope
// the policy grants (notes:write, for write_note) and asks for one it
// refuses (notes:delete). Once with dynamic client registration, once with
// a Client ID Metadata Document served over https on loopback.
func TestAuthServerTypeScriptClient(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"dcr", "cimd"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testTSClient(t, mode)
		})
	}
}

func testTSClient(t *testing.T, mode string) {
	node22 := node.Node22(t)
	script := node.ScriptWithModules(t, "testdata/authserver_client.mjs", node.NPMModules(t, node.TSSDKPackage, node.TSSDK))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	addr := testtools.FreeAddr(t)
	f := newASFixture(t, "http://"+addr)
	env := node.Env(t, node22)
	var gwEnv []string
	if mode == "cimd" {
		metadataURL, caFile := serveClientMetadata(t, f.dir, asClientRedirect)
		env = append(env, "CLIENT_METADATA_URL="+metadataURL)
		gwEnv = append(gwEnv, "SSL_CERT_FILE="+caFile) // the document's server is trusted like a public CA's
	}
	gw, decisions := f.start(t, "gateway", addr, `{path: "`+f.dir+`/store.db"}`, gwEnv...)

	cmd := testtools.CommandContext(ctx, node22, script)
	cmd.Env = append(env, "MCP_URL="+f.publicURL+"/mcp", "REDIRECT_URL="+asClientRedirect,
		"LOGIN="+asAlice.Email, "PASSWORD="+asAlice.Password)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	t.Logf("authserver_client.mjs (%s): %s\nstderr: %s", mode, stdout, stderr.String())
	if err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	var res tsResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("script output: %v", err)
	}
	if res.Fatal != "" {
		t.Errorf("the script stopped: %s", res.Fatal)
	}
	checkTSClientID(t, mode, res.ClientID)
	checkTSSteps(t, res.Steps)

	// The decision log is complete once the gateway has stopped.
	gw.Signal(syscall.SIGTERM)
	if err := gw.Wait(ctx); err != nil {
		t.Errorf("gateway after SIGTERM: %v", err)
	}
	checkGrantLog(t, grantLines(t, decisions), res.ClientID)
}

// serveClientMetadata serves the script's Client ID Metadata Document over
// https on loopback, and returns its URL (the client id) and the file of
// the CA that the gateway must trust to fetch it.
func serveClientMetadata(t *testing.T, dir, redirect string) (string, string) {
	t.Helper()
	var id string
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/clients/mcpgate-e2e.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"client_id": id, "client_name": "mcpgate e2e (TypeScript SDK, metadata document)",
			"redirect_uris": []string{redirect}, "grant_types": []string{"authorization_code", "refresh_token"},
			"response_types": []string{"code"}, "token_endpoint_auth_method": "none",
		})
	}))
	t.Cleanup(hs.Close)
	id = hs.URL + "/clients/mcpgate-e2e.json"
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
	return id, writeTestFile(t, dir, "metadata-ca.pem", string(ca))
}

func checkTSClientID(t *testing.T, mode, id string) {
	t.Helper()
	switch {
	case mode == "dcr" && !strings.HasPrefix(id, "mcpgate-"):
		t.Errorf("client id %q, want one the gateway assigned at registration (mcpgate-…)", id)
	case mode == "cimd" && !strings.HasPrefix(id, "https://127.0.0.1:"):
		t.Errorf("client id %q, want the metadata document's URL", id)
	}
}

// checkTSSteps checks the script's steps, in order.
func checkTSSteps(t *testing.T, steps []tsStep) {
	t.Helper()
	byName := map[string]tsStep{}
	var names []string
	for _, s := range steps {
		byName[s.Step] = s
		names = append(names, s.Step)
	}
	want := []string{"authorize", "list", "refresh", "list_after_refresh", "write", "step_up", "delete", "step_up_refused", "delete_after_step_up"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	type signIn struct {
		Requested, Granted string
		Logins, Consents   int
	}
	signIns := map[string]signIn{
		// The first sign-in asks for the challenged scope (auth.challenge_scopes).
		"authorize": {Requested: "notes:read", Granted: "notes:read", Logins: 1, Consents: 1},
		// write_note needs notes:write: consented to on a second page.
		"step_up": {Requested: "notes:read notes:write", Granted: "notes:read notes:write", Logins: 1, Consents: 1},
		// notes:delete is refused by policy; nothing new is granted, but a
		// public client with a loopback redirect confirms every
		// authorization on the consent page (RFC 8252 §8.6).
		"step_up_refused": {Requested: "notes:read notes:write notes:delete", Granted: "notes:read notes:write", Logins: 1, Consents: 1},
	}
	for name, w := range signIns {
		g := byName[name]
		got := signIn{g.Requested, g.Granted, g.Logins, g.Consents}
		if got != w {
			t.Errorf("sign-in %s: %+v, want %+v", name, got, w)
		}
	}
	for _, name := range []string{"list", "list_after_refresh"} {
		if diff := cmp.Diff(aliceTools, byName[name].Tools); diff != "" {
			t.Errorf("%s: tools (-want +got):\n%s", name, diff)
		}
	}
	if r := byName["refresh"]; r.Granted != "notes:read" || !r.NewAccessToken || !r.NewRefreshToken {
		t.Errorf("refresh: %+v, want notes:read again with a new access token and a new (rotated) refresh token", r)
	}
	checkTSCalls(t, byName)
}

func checkTSCalls(t *testing.T, byName map[string]tsStep) {
	t.Helper()
	switch w := byName["write"]; {
	case !strings.Contains(w.Challenge, `error="insufficient_scope"`) || !strings.Contains(w.Challenge, `scope="notes:read notes:write"`):
		t.Errorf("write_note with a token of notes:read: challenge %q, result %q, error %q; want 403 insufficient_scope for \"notes:read notes:write\"",
			w.Challenge, w.Text, w.Error)
	case !w.Retried || w.IsError || w.Error != "" || !strings.Contains(w.Text, "e2e-ts"):
		t.Errorf("write_note after the step-up: result %q, error %q; want it to succeed", w.Text, w.Error)
	}
	for _, name := range []string{"delete", "delete_after_step_up"} {
		d := byName[name]
		if d.Error == "" && !d.IsError {
			t.Errorf("%s: delete_note succeeded (%q): alice may never delete", name, d.Text)
		}
		if d.Challenge != "" {
			t.Errorf("%s: challenge %q: no scope can let alice delete, so there must be no step-up challenge", name, d.Challenge)
		}
	}
}

// checkGrantLog checks the grant decisions of the client's sign-ins in
// the decision log: the first authorization, the refresh, the step-up
// granted and the one refused.
func checkGrantLog(t *testing.T, lines []grantLine, clientID string) {
	t.Helper()
	type grant struct {
		Reason, Requested, Granted string
	}
	var got []grant
	for _, l := range lines {
		if l.Target != clientID {
			t.Errorf("grant decision for %q, want only the client %q", l.Target, clientID)
		}
		got = append(got, grant{l.Input.Grant.Reason, strings.Join(l.Input.Grant.Requested, " "), strings.Join(l.Granted, " ")})
	}
	want := []grant{
		{"authorize", "notes:read", "notes:read"},
		{"refresh", "notes:read", "notes:read"},
		{"step_up", "notes:read notes:write", "notes:read notes:write"},
		{"step_up", "notes:read notes:write notes:delete", "notes:read notes:write"}, // refused: notes:delete
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("grant decisions in the decision log (-want +got):\n%s", diff)
	}
	if !slices.ContainsFunc(lines, func(l grantLine) bool { return l.UserSub != "" }) {
		t.Error("grant decisions carry no user_sub")
	}
}
