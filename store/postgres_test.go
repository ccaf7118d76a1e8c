package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/postgres"
	"github.com/mcpgate/mcpgate/store"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	srv := postgres.Start(t)
	open := func(t *testing.T, opts *store.Options) store.Store {
		t.Helper()
		s, err := store.OpenPostgres(context.Background(), srv.NewDatabase(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	t.Run("conformance", func(t *testing.T) { conformance(t, open) })
	t.Run("purge", func(t *testing.T) { t.Parallel(); testPurge(t, open) })
	t.Run("vault", func(t *testing.T) { t.Parallel(); vaultSuite(t, open) })
	t.Run("migrations", func(t *testing.T) { t.Parallel(); testMigrations(t, srv) })
}

// Replicas starting at once against a new database migrate it once, and
// see each other's entries.
func testMigrations(t *testing.T, srv *postgres.Server) {
	ctx := context.Background()
	dsn := srv.NewDatabase(t)
	stores := make([]store.Store, 4)
	errs := make([]error, len(stores))
	done := make(chan int)
	for i := range stores {
		go func() {
			stores[i], errs[i] = store.OpenPostgres(ctx, dsn, nil)
			done <- i
		}()
	}
	for range stores {
		i := <-done
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if err := stores[0].Put(ctx, "ns", "k", []byte("shared"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if v, ok := mustGet(t, stores[3], "ns", "k"); !ok || v != "shared" {
		t.Errorf("another replica reads %q %v", v, ok)
	}
}

// An unreachable database or a DSN that does not parse is an error that
// does not repeat the DSN's password.
func TestPostgresOpenErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, dsn := range map[string]string{
		"unreachable": "postgres://u:secret-pw@" + testtools.FreeAddr(t) + "/db?sslmode=disable&connect_timeout=2",
		"garbage":     "postgres://u:secret-pw@[::1/db",
	} {
		s, err := store.OpenPostgres(ctx, dsn, nil)
		if err == nil {
			s.Close()
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}
