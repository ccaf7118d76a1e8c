package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// watchedEngine is dirEngine with its log collected, to wait for reloads.
func watchedEngine(t *testing.T, dir string) (*Engine, *logRecords) {
	t.Helper()
	log, _, recs := signalLogger(t)
	return dirEngine(t, dir, Options{Logger: log}), recs
}

func TestWatchDirReloadsOnChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"authz.rego": allowAlice})
	e, logs := watchedEngine(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.WatchDir(ctx, dir)

	rev := e.Revision()
	writeFiles(t, dir, map[string]string{"sub/data.json": `{"closed": true}`})
	logs.await(t, "reload after a new data file", loaded(rev))

	rev = e.Revision()
	writeFiles(t, dir, map[string]string{"authz.rego": "package mcpgate.authz\ndecision := {"})
	logs.await(t, "the broken reload to be reported", message("policy: reload failed; keeping the last good policy"))
	if e.Revision() != rev || e.Status().LastError == "" || !e.Decide(ctx, callInput("alice")).Allow {
		t.Fatalf("broken file replaced the last good policy or was not reported: Status %+v", e.Status())
	}

	writeFiles(t, dir, map[string]string{"authz.rego": "package mcpgate.authz\ndecision := {\"allow\": false}"})
	logs.await(t, "reload of the fixed file", loaded(rev))
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
	e, logs := watchedEngine(t, dir)
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
	logs.await(t, "reload after the ..data swap", loaded(rev))
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
