package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// waitFor polls cond every 10ms for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchDirReloadsOnChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"authz.rego": allowAlice})
	e := dirEngine(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.WatchDir(ctx, dir)

	rev := e.Revision()
	writeFiles(t, dir, map[string]string{"sub/data.json": `{"closed": true}`})
	waitFor(t, "reload after a new data file", func() bool { return e.Revision() != rev })

	rev = e.Revision()
	writeFiles(t, dir, map[string]string{"authz.rego": "package mcpgate.authz\ndecision := {"})
	waitFor(t, "the broken reload to be reported", func() bool { return e.Status().LastError != "" })
	if e.Revision() != rev || !e.Decide(ctx, callInput("alice")).Allow {
		t.Fatal("broken file replaced the last good policy")
	}

	writeFiles(t, dir, map[string]string{"authz.rego": "package mcpgate.authz\ndecision := {\"allow\": false}"})
	waitFor(t, "reload of the fixed file", func() bool { return e.Revision() != rev })
	if e.Decide(ctx, callInput("alice")).Allow || e.Status().LastError != "" {
		t.Errorf("after fix: Status %+v", e.Status())
	}
}

// TestWatchDirConfigMapSwap mimics a Kubernetes ConfigMap volume: files are
// symlinks through ..data, which is swapped atomically to a new directory.
func TestWatchDirConfigMapSwap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"..v1/authz.rego": allowAlice})
	must(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	must(t, os.Symlink("..data/authz.rego", filepath.Join(dir, "authz.rego")))
	e := dirEngine(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.WatchDir(ctx, dir)
	if !e.Decide(ctx, callInput("alice")).Allow {
		t.Fatal("v1 should allow alice")
	}

	rev := e.Revision()
	writeFiles(t, dir, map[string]string{"..v2/authz.rego": "package mcpgate.authz\ndecision := {\"allow\": false}"})
	must(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	must(t, os.RemoveAll(filepath.Join(dir, "..v1")))
	waitFor(t, "reload after the ..data swap", func() bool { return e.Revision() != rev })
	if e.Decide(ctx, callInput("alice")).Allow {
		t.Error("v2 should deny")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
