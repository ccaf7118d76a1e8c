package connections

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/dex"
	"github.com/mcpgate/mcpgate/internal/testtools/postgres"
	"github.com/mcpgate/mcpgate/store"
)

// Two replicas on one PostgreSQL database behind a load balancer without
// affinity: the connect link, Dex's callback and the token are served by
// whichever replica gets them; a callback is single use across replicas;
// a connection revoked on one is gone on the other.
func TestConnectReplicasOnPostgres(t *testing.T) {
	t.Parallel()
	pg := postgres.Start(t)
	dsn := pg.NewDatabase(t)
	var lns []net.Listener
	var backends []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		backends = append(backends, "http://"+ln.Addr().String())
	}
	rr := testtools.StartRoundRobin(t, backends...)
	client := dex.DexClient{ID: "mcpgate-calendar", Secret: "calendar-secret", RedirectURIs: []string{rr.URL + PathCallback + "/calendar"}}
	d := dex.StartDex(t, []dex.DexClient{client}, []dex.DexUser{alice})
	key := bytes.Repeat([]byte{3}, store.VaultKeySize)
	var replicas []*Manager
	for i, ln := range lns {
		st, err := store.OpenPostgres(context.Background(), dsn, &store.Options{PurgeInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		vault, err := store.NewVault(st, [][]byte{key})
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(Options{
			Upstreams: []Upstream{{Name: "calendar", URL: "http://127.0.0.1:1/mcp", AuthorizationServer: d.Issuer,
				ClientID: client.ID, ClientSecret: func() (string, error) { return client.Secret, nil }, AllowInsecureHTTP: true}},
			Vault: vault, Store: st, BaseURL: rr.URL, Identity: signedIn,
			Scopes: func(context.Context, string, *authn.Identity) ([]string, error) {
				return []string{"openid", "email", "offline_access"}, nil
			},
		})
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		srv := &http.Server{Handler: m.Handler()}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		replicas = append(replicas, m)
	}
	h := &harness{m: replicas[0], dex: d, base: rr.URL}
	cb := h.connect(t, "alice", alice, "")
	ctx := context.Background()
	var tokens []string
	for i, m := range replicas {
		token, err := m.Token(ctx, "calendar", employees["alice"], nil)
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		tokens = append(tokens, token)
	}
	if tokens[0] != tokens[1] {
		t.Error("the replicas read different tokens for one connection")
	}
	for range 2 { // both replicas refuse the used callback
		if resp, _ := get(t, h.browser(t, "alice"), cb.String()); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed callback through the load balancer: %d, want 400", resp.StatusCode)
		}
	}
	if _, err := replicas[1].Revoke(ctx, employees["alice"], "calendar"); err != nil {
		t.Fatal(err)
	}
	if _, err := replicas[0].Token(ctx, "calendar", employees["alice"], nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("after revoking on the other replica: %v, want ErrNotConnected", err)
	}
}

// Vault keys rotate without losing connections: a manager with a new
// sealing key and the old one still reads what the old one sealed, and
// re-seals it with the new key when it writes it (a refresh); once only
// the new key is left, the connection still opens; with a key that never
// sealed it, it fails closed.
func TestConnectVaultKeyRotation(t *testing.T) {
	t.Parallel()
	h := startHarness(t, nil)
	ctx := context.Background()
	h.connect(t, "alice", alice, "")
	oldKey := bytes.Repeat([]byte{7}, store.VaultKeySize) // startHarness's
	newKey := bytes.Repeat([]byte{8}, store.VaultKeySize)
	with := func(keys ...[]byte) *Manager {
		t.Helper()
		v, err := store.NewVault(h.st, keys)
		if err != nil {
			t.Fatal(err)
		}
		opts := h.m.opts
		opts.Vault = v
		m, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	rotated := with(newKey, oldKey)
	rotated.opts.RefreshMargin = 48 * time.Hour // the next use refreshes, and re-seals
	if _, err := rotated.Token(ctx, "calendar", employees["alice"], nil); err != nil {
		t.Fatalf("with the new key first and the old one kept: %v", err)
	}
	if _, err := with(newKey).Token(ctx, "calendar", employees["alice"], nil); err != nil {
		t.Fatalf("with only the new key, after the re-seal: %v", err)
	}
	_, err := with(bytes.Repeat([]byte{9}, store.VaultKeySize)).Token(ctx, "calendar", employees["alice"], nil)
	if !errors.Is(err, store.ErrVaultUnknownKey) {
		t.Fatalf("with a key that sealed nothing: %v, want ErrVaultUnknownKey", err)
	}
}
