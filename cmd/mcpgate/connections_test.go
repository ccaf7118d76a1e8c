package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/connections"
	"github.com/mcpgate/mcpgate/internal/testtools/dex"
	"github.com/mcpgate/mcpgate/store"
)

// TestConnectionsCLI: an employee connected through the connect flow
// (Dex as the upstream's authorization server) is listed by `mcpgate
// connections list`, never with a token, and `revoke` ends the connection
// in the store the gateway reads.
func TestConnectionsCLI(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	client := dex.DexClient{ID: "mcpgate-tasks", Secret: "tasks-secret", RedirectURIs: []string{base + connections.PathCallback + "/tasks"}}
	alice := dex.DexUser{Email: "alice@example.com", Username: "alice", Password: "alice-password"}
	d := dex.StartDex(t, []dex.DexClient{client}, []dex.DexUser{alice})
	dir := t.TempDir()
	vaultKey := bytes.Repeat([]byte{5}, store.VaultKeySize)
	path := writeFile(t, dir, "mcpgate.yaml", `public_url: `+base+`
auth:
  issuers: [{issuer: "https://idp.example"}]
store: {path: `+dir+`/store.db, vault_key_file: `+writeFile(t, dir, "vault.keys", base64.StdEncoding.EncodeToString(vaultKey)+"\n")+`}
web_sign_in: {enabled: true, client_id: gw, client_secret: {value_from_file: `+writeFile(t, dir, "web-secret", "s")+`},
  cookie_key_file: `+writeFile(t, dir, "cookie.keys", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{6}, 32))+"\n")+`}
servers:
  - name: tasks
    url: http://127.0.0.1:1/mcp
    allow_insecure_http: true
    auth:
      kind: oauth
      authorization_server: `+d.Issuer+`
      allow_insecure_http: true
      client_id: `+client.ID+`
      client_secret: {value_from_file: `+writeFile(t, dir, "secret", client.Secret)+`}
      scopes: [openid, email, offline_access]
`)
	employee := &authn.Identity{Issuer: "https://idp.example", Subject: "alice-sub"}
	token := connectWithDex(t, path, ln, d, employee, alice)

	code, out, stderr := runCLI(t, nil, "connections", "list", "--config", path, "--subject", "alice-sub")
	if code != exitOK || !strings.Contains(out, "tasks") || !strings.Contains(out, "openid email offline_access") || strings.Contains(out, token) {
		t.Fatalf("list: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, _ = runCLI(t, nil, "connections", "list", "--config", path, "--subject", "alice-sub", "--json")
	var conns []connections.Connection
	if code != exitOK || json.Unmarshal([]byte(out), &conns) != nil || len(conns) != 1 || !conns[0].Refreshes {
		t.Fatalf("list --json: exit %d, %s", code, out)
	}
	if code, out, _ := runCLI(t, nil, "connections", "list", "--config", path, "--subject", "bob-sub"); code != exitOK || !strings.Contains(out, "no connections") {
		t.Fatalf("another employee: exit %d, %q", code, out)
	}
	if code, _, stderr := runCLI(t, nil, "connections", "revoke", "--config", path, "--subject", "alice-sub", "--server", "nope"); code != exitFail || !strings.Contains(stderr, `"nope" is not a server of auth kind oauth`) {
		t.Fatalf("revoke an unknown server: exit %d, %q", code, stderr)
	}
	if code, out, stderr := runCLI(t, nil, "connections", "revoke", "--config", path, "--subject", "alice-sub", "--server", "tasks"); code != exitOK || !strings.Contains(out, "revoked alice-sub's connection to tasks") {
		t.Fatalf("revoke: exit %d, %q %q", code, out, stderr)
	}
	if code, out, _ := runCLI(t, nil, "connections", "list", "--config", path, "--subject", "alice-sub"); code != exitOK || !strings.Contains(out, "no connections") {
		t.Fatalf("after revoke: exit %d, %q", code, out)
	}
}

func TestConnectionsCLIUsage(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args   []string
		code   int
		stderr string
	}{
		"no subject":             {[]string{"connections", "list", "--config", "x.yaml"}, exitUsage, "--subject is required"},
		"no config":              {[]string{"connections", "list", "--subject", "a"}, exitUsage, "--config is required"},
		"server and all":         {[]string{"connections", "revoke", "--config", "x.yaml", "--subject", "a", "--server", "s", "--all"}, exitUsage, "exactly one of --server NAME and --all"},
		"neither server nor all": {[]string{"connections", "revoke", "--config", "x.yaml", "--subject", "a"}, exitUsage, "exactly one of"},
		"unknown subcommand":     {[]string{"connections", "frob"}, exitUsage, `unknown command "frob"`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderr)
			}
		})
	}
}

// connectWithDex runs the connect flow for employee (Dex user) with the
// store and vault of the configuration at path, serving the connect pages
// on ln, and returns the access token stored. The store is closed after.
func connectWithDex(t *testing.T, path string, ln net.Listener, d *dex.Dex, employee *authn.Identity, user dex.DexUser) string {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := cfg.Provision()
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), cfg, prov)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	vault, err := store.NewVault(st, prov.VaultKeys)
	if err != nil {
		t.Fatal(err)
	}
	ups := oauthUpstreams(cfg)
	m, err := connections.New(connections.Options{Upstreams: []connections.Upstream{ups[0].Upstream}, Vault: vault, Store: st,
		BaseURL:  cfg.PublicURL,
		Identity: func(*http.Request) (*authn.Identity, bool) { return employee, true },
		Scopes: func(context.Context, string, *authn.Identity) ([]string, error) {
			return []string{"openid", "email", "offline_access"}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: m.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	link, err := m.ConnectURL(context.Background(), "tasks", employee, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	auth, err := resp.Location()
	if err != nil {
		t.Fatalf("connect link: %d", resp.StatusCode)
	}
	cb, err := d.SignIn(context.Background(), c, auth.String(), user.Email, user.Password)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = c.Get(cb.String()); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %v %v", resp, err)
	}
	resp.Body.Close()
	token, err := m.Token(context.Background(), "tasks", employee, nil)
	if err != nil {
		t.Fatal(err)
	}
	return token
}
