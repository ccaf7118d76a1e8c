package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/store"
)

func openFile(t *testing.T, opts *store.Options) store.Store {
	t.Helper()
	s, err := store.OpenFile(filepath.Join(t.TempDir(), "mcpgate.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFileConformance(t *testing.T) {
	t.Parallel()
	conformance(t, openFile)
}

func TestFilePurge(t *testing.T) {
	t.Parallel()
	testPurge(t, openFile)
}

// A reopened file has what was put before, and a second opener (another
// process, or the same one) fails rather than waits.
func TestFileReopenAndLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mcpgate.db")
	s, err := store.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "ns", "k", []byte("kept"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenFile(path, nil); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("second open of a file in use: %v, want a locked error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store file mode: %v %v, want 0600", fi.Mode(), err)
	}
	s, err = store.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, ok := mustGet(t, s, "ns", "k"); !ok || v != "kept" {
		t.Errorf("after reopen: %q %v, want kept", v, ok)
	}
}

func TestFileOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := store.OpenFile(filepath.Join(dir, "missing", "mcpgate.db"), nil); err == nil {
		t.Error("open in a missing directory: no error")
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bolt file ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenFile(garbage, nil); err == nil {
		t.Error("open of a file that is not a store: no error")
	}
}

// testPurge checks that the purge removes expired entries, and only them.
func testPurge(t *testing.T, open opener) {
	ctx := context.Background()
	c := newClock()
	s := open(t, c.opts())
	for i, d := range []time.Duration{time.Minute, time.Hour, 0} {
		exp := time.Time{}
		if d > 0 {
			exp = c.in(d)
		}
		if err := s.Put(ctx, "p", string(rune('a'+i)), []byte("v"), exp); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(2 * time.Minute)
	if err := store.Purge(s); err != nil {
		t.Fatal(err)
	}
	if n, err := store.RawCount(s, "p"); err != nil || n != 2 {
		t.Errorf("entries after purge: %d (%v), want 2", n, err)
	}
}
