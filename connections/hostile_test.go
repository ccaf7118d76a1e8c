package connections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/store"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// hostileAS is an authorization server that answers every refresh with the
// scopes it likes and records the refresh tokens it receives: it stands
// for a server that widens a grant, which no real provider here does on
// purpose. Its metadata follows RFC 8414.
type hostileAS struct {
	*httptest.Server
	scope    string
	received atomic.Int32
	revoked  atomic.Int32 // revocation requests (RFC 7009)
}

func startHostileAS(t *testing.T, scope string) *hostileAS {
	t.Helper()
	as := &hostileAS{scope: scope}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": as.URL, "authorization_endpoint": as.URL + "/authorize",
			"token_endpoint": as.URL + "/token", "revocation_endpoint": as.URL + "/revoke", "response_types_supported": []string{"code"},
			"code_challenge_methods_supported": []string{"S256"}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		as.received.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + r.PostFormValue("refresh_token"),
			"token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-next", "scope": as.scope})
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) { as.revoked.Add(1) })
	as.Server = httptest.NewServer(mux)
	t.Cleanup(as.Close)
	return as
}

// managerFor is a manager of one upstream whose authorization server is
// issuer, with its own store.
func managerFor(t *testing.T, issuer string) (*Manager, store.Store) {
	t.Helper()
	st, vault := fileVault(t, 2)
	m, err := New(Options{Upstreams: []Upstream{{Name: "calendar", URL: "http://127.0.0.1:1/mcp", AuthorizationServer: issuer,
		ClientID: "gw", ClientSecret: func() (string, error) { return "s", nil }, AllowInsecureHTTP: true}},
		Vault: vault, Store: st, BaseURL: "http://127.0.0.1:2", Identity: signedIn, RefreshMargin: 48 * time.Hour,
		Scopes: func(context.Context, string, *authn.Identity) ([]string, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

// A refresh records no scope beyond those granted at connect, whatever the
// server answers.
func TestRefreshNeverWidensScopes(t *testing.T) {
	t.Parallel()
	as := startHostileAS(t, "calendar.read calendar.write admin")
	m, _ := managerFor(t, as.URL)
	ctx := context.Background()
	alice := employees["alice"]
	saveExpiring(t, m, as.URL)
	token, err := m.Token(ctx, "calendar", alice, []string{"calendar.read"})
	if err != nil || token != "at-rt-0" {
		t.Fatalf("refresh: %q %v", token, err)
	}
	conns, err := m.Connections(ctx, alice)
	if err != nil || len(conns) != 1 || strings.Join(conns[0].Scopes, " ") != "calendar.read" {
		t.Fatalf("after a refresh answered with wider scopes: %+v %v, want calendar.read only", conns, err)
	}
	if _, err := m.Token(ctx, "calendar", alice, []string{"calendar.write"}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("a scope the server slipped in must not serve a call: %v", err)
	}
}

// A refresh token goes only to the authorization server that issued it:
// when the upstream's server is another one now, the connection ends and
// the new server receives nothing.
func TestRefreshTokenStaysWithItsIssuer(t *testing.T) {
	t.Parallel()
	as := startHostileAS(t, "calendar.read")
	m, _ := managerFor(t, as.URL)
	ctx := context.Background()
	alice := employees["alice"]
	saveExpiring(t, m, "https://old-as.example")
	if _, err := m.Token(ctx, "calendar", alice, nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("a token of another authorization server: %v, want ErrNotConnected", err)
	}
	if n := as.received.Load(); n != 0 {
		t.Fatalf("the new authorization server received %d token requests: the old refresh token went there", n)
	}
	if conns, _ := m.Connections(ctx, alice); len(conns) != 0 {
		t.Errorf("the connection survived: %+v", conns)
	}
}

// A row that no longer opens (its vault key removed) asks the employee to
// connect again, is listed as unreadable, and can be revoked.
func TestUnreadableConnection(t *testing.T) {
	t.Parallel()
	as := startHostileAS(t, "")
	m, st := managerFor(t, as.URL)
	ctx := context.Background()
	alice := employees["alice"]
	other, err := store.NewVault(st, [][]byte{bytes.Repeat([]byte{3}, store.VaultKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Put(ctx, nsToken, employee(alice), "calendar", []byte(`{"access_token":"x"}`), time.Time{}); err != nil {
		t.Fatal(err)
	}
	_, err = m.Token(ctx, "calendar", alice, nil)
	if !errors.Is(err, ErrNotConnected) || !errors.Is(err, store.ErrVaultUnknownKey) {
		t.Fatalf("an unreadable row: %v, want ErrNotConnected wrapping ErrVaultUnknownKey", err)
	}
	if conns, err := m.Connections(ctx, alice); err != nil || len(conns) != 1 || !conns[0].Unreadable {
		t.Fatalf("listing: %+v %v, want the connection marked unreadable", conns, err)
	}
	if had, err := m.Revoke(ctx, alice, "calendar"); err != nil || !had {
		t.Fatalf("revoking an unreadable connection: %v %v", had, err)
	}
	if conns, _ := m.Connections(ctx, alice); len(conns) != 0 {
		t.Errorf("after revoking: %+v", conns)
	}
	if had, err := m.Revoke(ctx, alice, "calendar"); err != nil || had {
		t.Errorf("revoking nothing: %v %v, want false", had, err)
	}
}

// Refreshes and a revocation racing on one connection from two managers
// (replicas, or the CLI) on one store: each refresh goes alone, and a
// revocation is never undone by a refresh that was under way.
func TestRowLockSerializesRefreshAndRevoke(t *testing.T) {
	t.Parallel()
	as := startHostileAS(t, "calendar.read")
	a, st := managerFor(t, as.URL)
	b, err := New(a.opts)
	if err != nil {
		t.Fatal(err)
	}
	_ = st
	ctx := context.Background()
	alice := employees["alice"]
	saveExpiring(t, a, as.URL)

	// While another replica holds the row's lock, neither a refresh nor a
	// revocation goes ahead: each waits, here until its deadline, and
	// changes nothing.
	_, release, err := a.lockRow(ctx, alice, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	if _, err := b.Revoke(short(), alice, "calendar"); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("revoking while another holds the lock: %v, want busy", err)
	}
	if _, err := b.Token(short(), "calendar", alice, nil); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("refreshing while another holds the lock: %v, want busy", err)
	}
	if n := as.received.Load(); n != 0 {
		t.Fatalf("%d refreshes while the lock was held", n)
	}
	if conns, _ := a.Connections(ctx, alice); len(conns) != 1 {
		t.Fatalf("the connection changed while the lock was held: %+v", conns)
	}
	release()

	var wg sync.WaitGroup
	for i := range 8 {
		m := []*Manager{a, b}[i%2]
		wg.Go(func() { _, _ = m.Token(ctx, "calendar", alice, nil) })
	}
	wg.Go(func() {
		if _, err := b.Revoke(ctx, alice, "calendar"); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	// Whatever the order, once the revocation is done, the refreshes that
	// ran before it cannot have brought the connection back, and later
	// ones found nothing to refresh.
	if conns, _ := a.Connections(ctx, alice); len(conns) != 0 {
		t.Fatalf("a refresh brought back a revoked connection: %+v", conns)
	}
	if n := as.received.Load(); n > 8 {
		t.Errorf("%d refreshes for 8 calls", n)
	}
}

// A callback must come back on the path of its upstream, and, when it
// names its authorization server (RFC 9207), from the one the
// authorization was started with.
func TestCallbackMixUpRefused(t *testing.T) {
	t.Parallel()
	h := startHarness(t, nil)
	for name, edit := range map[string]func(*url.URL){
		"another upstream's path": func(u *url.URL) { u.Path = PathCallback + "/other" },
		"another issuer":          func(u *url.URL) { q := u.Query(); q.Set("iss", "https://evil.example"); u.RawQuery = q.Encode() },
	} {
		t.Run(name, func(t *testing.T) {
			link, err := h.m.ConnectURL(context.Background(), "calendar", employees["alice"], nil, "")
			if err != nil {
				t.Fatal(err)
			}
			c := h.browser(t, "alice")
			resp, _ := get(t, c, link)
			auth, _ := resp.Location()
			cb, err := h.dex.SignIn(context.Background(), c, auth.String(), alice.Email, alice.Password)
			if err != nil {
				t.Fatal(err)
			}
			edit(cb)
			if resp, body := get(t, c, cb.String()); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
				t.Fatalf("%s: %d %s, want refused", cb, resp.StatusCode, body)
			}
			if _, err := h.m.Token(context.Background(), "calendar", employees["alice"], nil); !errors.Is(err, ErrNotConnected) {
				t.Fatalf("connected through a mixed-up callback: %v", err)
			}
		})
	}
}

// saveExpiring stores alice's connection to calendar, issued by issuer to
// client gw, read scope only, expiring within the refresh margin.
func saveExpiring(t *testing.T, m *Manager, issuer string) {
	t.Helper()
	if err := m.save(context.Background(), employees["alice"], "calendar", &record{AccessToken: "at-0", TokenType: "Bearer",
		RefreshToken: "rt-0", Expiry: time.Now().Add(time.Minute), Scopes: []string{"calendar.read"}, Issuer: issuer, ClientID: "gw"}); err != nil {
		t.Fatal(err)
	}
}

// TestDiscoveryCancelledIsNotRemembered: one caller giving up during
// discovery (its browser or call gone) does not leave its cancellation as
// every employee's answer for a while.
func TestDiscoveryCancelledIsNotRemembered(t *testing.T) {
	t.Parallel()
	as := startHostileAS(t, "calendar.read")
	m, _ := managerFor(t, as.URL)
	u, err := m.upstream("calendar")
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.resolve(cancelled, u); err == nil {
		t.Fatal("a discovery with a cancelled context succeeded")
	}
	if _, err := m.resolve(context.Background(), u); err != nil {
		t.Errorf("the next caller got the cancelled caller's failure: %v", err)
	}
}

// TestRevocationStaysWithItsIssuer: disconnecting sends the tokens to the
// revocation endpoint of the server that issued them, and to no other
// (the upstream's authorization server changed since the connect).
func TestRevocationStaysWithItsIssuer(t *testing.T) {
	t.Parallel()
	as := startHostileAS(t, "calendar.read")
	m, _ := managerFor(t, as.URL)
	alice := employees["alice"]
	saveExpiring(t, m, "https://another-issuer.example")
	if ok, err := m.Revoke(context.Background(), alice, "calendar"); err != nil || !ok {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if n := as.revoked.Load(); n != 0 {
		t.Errorf("tokens of another issuer were sent to this server's revocation endpoint (%d requests)", n)
	}
	// The same with tokens this server issued: they are revoked there.
	saveExpiring(t, m, as.URL)
	if ok, err := m.Revoke(context.Background(), alice, "calendar"); err != nil || !ok {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if n := as.revoked.Load(); n != 2 {
		t.Errorf("%d revocation requests for this server's own refresh and access token, want 2", n)
	}
}

// TestCallbackWithoutIssRefused: an authorization server that says it
// names itself in its answers (RFC 9207) and an answer without the name
// is refused: another server may have sent it (mix-up).
func TestCallbackWithoutIssRefused(t *testing.T) {
	t.Parallel()
	as := startHostileAS(t, "calendar.read")
	m, _ := managerFor(t, as.URL)
	alice := employees["alice"]
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"state=s1&code=c", http.StatusBadRequest},                                                // no iss although promised
		{"state=s2&code=c&iss=" + url.QueryEscape("https://evil.example"), http.StatusBadRequest}, // another server's
	} {
		state := strings.TrimPrefix(strings.SplitN(tc.query, "&", 2)[0], "state=")
		if err := m.putPending(context.Background(), kindState, state, &pending{Issuer: alice.Issuer, Subject: alice.Subject,
			Upstream: "calendar", Verifier: "v", ClientID: "gw", ASIssuer: as.URL, IssParam: true}); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, PathCallback+"/calendar?"+tc.query, nil)
		req.AddCookie(&http.Cookie{Name: signInCookie, Value: "alice"})
		w := httptest.NewRecorder()
		m.Handler().ServeHTTP(w, req)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), "does not come from the server") {
			t.Errorf("%s: %d %s, want %d and the mix-up page", tc.query, w.Code, w.Body.String(), tc.status)
		}
		if n := as.received.Load(); n != 0 {
			t.Fatalf("%s: the code was exchanged (%d token requests)", tc.query, n)
		}
	}
}

// TestRegisteredClientFollowsRedirectURI: a client the gateway registered
// for another redirect URI (public_url changed, or one URI for every
// upstream as before) is registered again rather than used with a URI the
// server does not know; one registered for this URI is reused.
func TestRegisteredClientFollowsRedirectURI(t *testing.T) {
	t.Parallel()
	var registrations atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		n := registrations.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": fmt.Sprintf("client-%d", n), "redirect_uris": []string{"x"}})
	})
	reg := httptest.NewServer(mux)
	t.Cleanup(reg.Close)
	m, _ := managerFor(t, reg.URL)
	u, err := m.upstream("calendar")
	if err != nil {
		t.Fatal(err)
	}
	old, _ := json.Marshal(registeredClient{ClientID: "old-client"}) // registered before the URI was kept
	if err := m.opts.Vault.Put(context.Background(), nsClient, u.Name, reg.URL, old, time.Time{}); err != nil {
		t.Fatal(err)
	}
	asm := &oauthex.AuthServerMeta{Issuer: reg.URL, RegistrationEndpoint: reg.URL + "/register"}
	for i := range 2 {
		rc, err := m.registeredClient(context.Background(), u, reg.URL, asm)
		if err != nil {
			t.Fatal(err)
		}
		if rc.ClientID != "client-1" || rc.RedirectURI != m.redirectURI(u) {
			t.Errorf("call %d: client %+v, want client-1 registered for %s", i, rc, m.redirectURI(u))
		}
	}
	if n := registrations.Load(); n != 1 {
		t.Errorf("%d registrations, want 1 (again once for the new URI, then reused)", n)
	}
}
