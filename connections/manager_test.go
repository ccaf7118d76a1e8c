package connections

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/internal/testtools/dex"
	"github.com/mcpgate/mcpgate/store"
)

var (
	alice = dex.DexUser{Email: "alice@example.com", Username: "alice", Password: "alice-password"}
	bob   = dex.DexUser{Email: "bob@example.com", Username: "bob", Password: "bob-password"}
)

// employees are the gateway identities of the test's employees, by the
// value of the test's sign-in cookie.
var employees = map[string]*authn.Identity{
	"alice": {Issuer: "https://idp.test", Subject: "alice"},
	"bob":   {Issuer: "https://idp.test", Subject: "bob"},
}

const signInCookie = "test-employee"

// signedIn is the test's web sign-in: the employee named by a cookie.
func signedIn(r *http.Request) (*authn.Identity, bool) {
	c, err := r.Cookie(signInCookie)
	if err != nil {
		return nil, false
	}
	id, ok := employees[c.Value]
	return id, ok
}

type harness struct {
	m       *Manager
	dex     *dex.Dex
	st      store.Store
	base    string
	vault   *store.Vault
	mu      sync.Mutex
	done    []string // "employee upstream elicitation" of each Connected
	granted []string // what Scopes grants
}

// startHarness starts Dex as the upstream's authorization server and a
// gateway serving the connect pages on loopback.
func startHarness(t *testing.T, edit func(*Options)) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	client := dex.DexClient{ID: "mcpgate-calendar", Secret: "calendar-secret", RedirectURIs: []string{base + PathCallback + "/calendar"}}
	d := dex.StartDex(t, []dex.DexClient{client}, []dex.DexUser{alice, bob})
	st, vault := fileVault(t, 7)
	h := &harness{dex: d, st: st, base: base, vault: vault, granted: []string{"openid", "email", "offline_access"}}
	opts := Options{
		Upstreams: []Upstream{{Name: "calendar", URL: "http://127.0.0.1:1/mcp", AuthorizationServer: d.Issuer,
			ClientID: client.ID, ClientSecret: func() (string, error) { return client.Secret, nil }, AllowInsecureHTTP: true}},
		Vault: vault, Store: st, BaseURL: base, Identity: signedIn,
		Scopes: func(context.Context, string, *authn.Identity) ([]string, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.granted, nil
		},
		Connected: func(id *authn.Identity, upstream, elicitation string) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.done = append(h.done, id.Subject+" "+upstream+" "+elicitation)
		},
	}
	if edit != nil {
		edit(&opts)
	}
	if h.m, err = New(opts); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.m.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h
}

// browser is a cookie-keeping client that does not follow redirects,
// signed in to the gateway as employee ("" for nobody).
func (h *harness) browser(t *testing.T, employee string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	if employee != "" {
		u, _ := url.Parse(h.base)
		jar.SetCookies(u, []*http.Cookie{{Name: signInCookie, Value: employee}})
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

// connect runs the whole flow for employee (a Dex user) and returns the
// callback URL Dex sent the browser to.
func (h *harness) connect(t *testing.T, employee string, user dex.DexUser, elicitation string) *url.URL {
	t.Helper()
	link, err := h.m.ConnectURL(context.Background(), "calendar", employees[employee], nil, elicitation)
	if err != nil {
		t.Fatal(err)
	}
	c := h.browser(t, employee)
	resp, body := get(t, c, link)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("connect link: %d %s", resp.StatusCode, body)
	}
	auth, _ := resp.Location()
	q := auth.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" ||
		q.Get("resource") != "http://127.0.0.1:1/mcp" || q.Get("scope") != "openid email offline_access" {
		t.Fatalf("authorization request %s: want PKCE S256, state, resource and the scopes policy granted", auth)
	}
	cb, err := h.dex.SignIn(context.Background(), c, auth.String(), user.Email, user.Password)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = get(t, c, cb.String())
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "is connected") {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	return cb
}

// verify checks token with Dex's keys and returns its subject.
func (h *harness) verify(t *testing.T, token string) string {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), h.dex.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: "mcpgate-calendar"}).Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("the stored token is not one Dex issued for the gateway's client: %v", err)
	}
	return idt.Subject
}

// An employee connects through Dex (authorization code, PKCE, resource),
// the token is sealed in the vault under that employee only, and refreshed
// when it nears expiry; the callback cannot be replayed, nor used by
// another employee.
func TestConnectFlowWithDex(t *testing.T) {
	t.Parallel()
	h := startHarness(t, nil)
	ctx := context.Background()

	if _, err := h.m.Token(ctx, "calendar", employees["alice"], nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("before connecting: %v, want ErrNotConnected", err)
	}
	cb := h.connect(t, "alice", alice, "elicit-1")
	if got := h.done; len(got) != 1 || got[0] != "alice calendar elicit-1" {
		t.Fatalf("Connected calls %q, want alice's for elicit-1", got)
	}
	token, err := h.m.Token(ctx, "calendar", employees["alice"], []string{"email"})
	if err != nil {
		t.Fatal(err)
	}
	aliceSub := h.verify(t, token)
	if _, err := h.m.Token(ctx, "calendar", employees["bob"], nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("bob got a token from alice's connection: %v", err)
	}

	// A request needing a scope alice did not grant asks her to connect again.
	var nc *NotConnectedError
	if _, err := h.m.Token(ctx, "calendar", employees["alice"], []string{"groups"}); !errors.As(err, &nc) ||
		strings.Join(nc.Scopes, " ") != "openid email offline_access groups" {
		t.Fatalf("a wider request: %v, want NotConnected asking the union of scopes", err)
	}

	// The callback is single use, and only for the employee who started it.
	resp, _ := get(t, h.browser(t, "alice"), cb.String())
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed callback: %d, want 400", resp.StatusCode)
	}

	// Bob connects too: his own token, for his own subject.
	h.connect(t, "bob", bob, "elicit-2")
	bobToken, err := h.m.Token(ctx, "calendar", employees["bob"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if bobSub := h.verify(t, bobToken); bobSub == aliceSub || bobToken == token {
		t.Fatalf("bob's token names subject %q, alice's %q: employees must never share a token", bobSub, aliceSub)
	}

	// Refresh: with a margin longer than Dex's token lifetime, every use
	// refreshes (Dex rotates the refresh token too).
	h.m.opts.RefreshMargin = 48 * time.Hour
	refreshed, err := h.m.Token(ctx, "calendar", employees["alice"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if refreshed == token || h.verify(t, refreshed) != aliceSub {
		t.Fatalf("refresh: got the same token or another subject")
	}
	h.m.opts.RefreshMargin = DefaultRefreshMargin

	// Revoking ends the connection.
	if _, err := h.m.Revoke(ctx, employees["alice"], "calendar"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Token(ctx, "calendar", employees["alice"], nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("after revoking: %v, want ErrNotConnected", err)
	}
	if conns, err := h.m.Connections(ctx, employees["bob"]); err != nil || len(conns) != 1 || conns[0].Upstream != "calendar" || !conns[0].Refreshes {
		t.Fatalf("bob's connections %+v, %v: want calendar, refreshable", conns, err)
	}
}

// The vault's rows in the store are ciphertext: neither the token nor the
// refresh token nor the employee appears in them, and a row copied to
// another employee does not open.
func TestConnectVaultRowsAreCiphertext(t *testing.T) {
	t.Parallel()
	h := startHarness(t, nil)
	ctx := context.Background()
	h.connect(t, "alice", alice, "")
	token, err := h.m.Token(ctx, "calendar", employees["alice"], nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok, err := h.vault.Get(ctx, nsToken, employee(employees["alice"]), "calendar")
	if err != nil || !ok {
		t.Fatalf("vault: %v %v", ok, err)
	}
	key := store.VaultStoreKey(employee(employees["alice"]), "calendar")
	row, ok, err := h.st.Get(ctx, nsToken, key)
	if err != nil || !ok {
		t.Fatalf("the store has no row for alice's token: %v %v", ok, err)
	}
	for _, clear := range []string{token, "alice", "refresh_token", "calendar"} {
		if bytes.Contains(row, []byte(clear)) {
			t.Errorf("the store's row holds %q in clear", clear)
		}
	}
	if !bytes.Contains(raw, []byte(token)) {
		t.Fatal("the vault does not open to the token")
	}
	// The row copied under bob's key does not open.
	if err := h.st.Put(ctx, nsToken, store.VaultStoreKey(employee(employees["bob"]), "calendar"), row, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Token(ctx, "calendar", employees["bob"], nil); !errors.Is(err, store.ErrVaultInvalid) {
		t.Fatalf("alice's row under bob's key: %v, want ErrVaultInvalid", err)
	}
}

// Hostile and malformed requests to the connect pages change nothing.
func TestConnectPagesRefuse(t *testing.T) {
	t.Parallel()
	h := startHarness(t, nil)
	ctx := context.Background()
	link, err := h.m.ConnectURL(ctx, "calendar", employees["alice"], nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		employee, url string
		status        int
	}{
		"not signed in":           {"", link, http.StatusUnauthorized},
		"another employee":        {"bob", link, http.StatusForbidden},
		"no ticket":               {"alice", h.base + PathStart, http.StatusBadRequest},
		"unknown ticket":          {"alice", h.base + PathStart + "?ticket=abc", http.StatusBadRequest},
		"oversized ticket":        {"alice", h.base + PathStart + "?ticket=" + strings.Repeat("a", 10000), http.StatusBadRequest},
		"callback without state":  {"alice", h.base + PathCallback + "/calendar?code=x", http.StatusBadRequest},
		"callback unknown state":  {"alice", h.base + PathCallback + "/calendar?code=x&state=nope", http.StatusBadRequest},
		"connections signed out":  {"", h.base + PathConnections, http.StatusUnauthorized},
		"start with POST refused": {"alice", "", http.StatusMethodNotAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			c := h.browser(t, tc.employee)
			var resp *http.Response
			if tc.url == "" {
				r, err := c.Post(link, "application/x-www-form-urlencoded", nil)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				resp = r
			} else {
				resp, _ = get(t, c, tc.url)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); tc.status != http.StatusMethodNotAllowed && !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("no restrictive CSP: %q", csp)
			}
		})
	}
	// Bob's attempt left the link to alice, whose use is the only one.
	if resp, _ := get(t, h.browser(t, "alice"), link); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("alice's link after bob tried it: %d, want 303 to the authorization server", resp.StatusCode)
	}
	if resp, _ := get(t, h.browser(t, "alice"), link); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a link used once: %d, want 400", resp.StatusCode)
	}

	// The authorization server's refusal stores nothing.
	link, _ = h.m.ConnectURL(ctx, "calendar", employees["alice"], nil, "")
	c := h.browser(t, "alice")
	resp, _ := get(t, c, link)
	auth, _ := resp.Location()
	resp, body := get(t, c, h.base+PathCallback+"/calendar?error=access_denied&state="+url.QueryEscape(auth.Query().Get("state")))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "access_denied") {
		t.Fatalf("error callback: %d %s", resp.StatusCode, body)
	}
	if _, err := h.m.Token(ctx, "calendar", employees["alice"], nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("after a refused authorization: %v", err)
	}

	// A callback opened in bob's browser is refused and stays alice's.
	link, _ = h.m.ConnectURL(ctx, "calendar", employees["alice"], nil, "")
	c = h.browser(t, "alice")
	resp, _ = get(t, c, link)
	auth, _ = resp.Location()
	cb, err := h.dex.SignIn(ctx, c, auth.String(), alice.Email, alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, h.browser(t, "bob"), cb.String()); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice's callback in bob's browser: %d, want 403", resp.StatusCode)
	}
	if _, err := h.m.Token(ctx, "calendar", employees["bob"], nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("bob connected with alice's code: %v", err)
	}
	if resp, body := get(t, c, cb.String()); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's own callback after bob's attempt: %d %s", resp.StatusCode, body)
	}

	// A ticket asking scopes policy does not grant is refused.
	link, _ = h.m.ConnectURL(ctx, "calendar", employees["alice"], []string{"groups"}, "")
	if resp, body := get(t, h.browser(t, "alice"), link); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "groups") {
		t.Fatalf("a ticket beyond policy: %d %s", resp.StatusCode, body)
	}
}

// New fails closed without what employees' tokens need.
func TestNewRefusesMissingParts(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{BaseURL: "https://gw.example"}); err == nil || !strings.Contains(err.Error(), "Vault, Store, Identity, Scopes") {
		t.Fatalf("New without parts: %v", err)
	}
}

// fileVault opens a file store in a test directory and a vault over it
// with one key, every byte keyByte.
func fileVault(tb testing.TB, keyByte byte) (store.Store, *store.Vault) {
	tb.Helper()
	st, err := store.OpenFile(filepath.Join(tb.TempDir(), "store.db"), &store.Options{PurgeInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	vault, err := store.NewVault(st, [][]byte{bytes.Repeat([]byte{keyByte}, store.VaultKeySize)})
	if err != nil {
		tb.Fatal(err)
	}
	return st, vault
}
