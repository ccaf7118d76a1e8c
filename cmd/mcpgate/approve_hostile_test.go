package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// evilUpstream lists n tools whose input schemas are nested depth deep
// (6 bytes of JSON per level; the go-sdk server refuses 1000 and more),
// served by the go-sdk and by the gateway.
func evilUpstream(t *testing.T, n, depth int) string {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "evil", Version: "1"}, nil)
	for i := range n {
		addTool(srv, fmt.Sprintf("deep%d", i), "Deep.", `{"type":"object","x":`+strings.Repeat(`{"x":`, depth)+`1`+strings.Repeat(`}`, depth)+`}`)
	}
	ln := boundListener(t)
	hs := &http.Server{Handler: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String() + "/mcp"
}

// One upstream listing 40 deeply nested tools of 5.7 KB each (230 KB of
// tools/list) does not stop the approval of every server: the lock grows
// with the definitions, not with the square of their depth.
func TestHostileApproveOneUpstreamBlocksAll(t *testing.T) {
	t.Parallel()
	_, notes := notesUpstream(t)
	evil := evilUpstream(t, 40, 950)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "mcpgate.yaml", fmt.Sprintf("servers:\n  - name: notes\n    url: %q\n    allow_insecure_http: true\n  - name: evil\n    url: %q\n    allow_insecure_http: true\n", notes, evil))
	code, stdout, stderr := runCLI(t, nil, "approve", "--config", cfg, "--yes")
	if code != exitOK {
		if !strings.Contains(stderr, `"evil"`) {
			t.Errorf("approve fails (exit %d) without naming the server that caused it:\nstderr: %s\nstdout: %d bytes", code, stderr, len(stdout))
		} else {
			t.Errorf("approve of notes blocked by evil (exit %d): %s", code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "mcpgate.lock.yaml")); err != nil {
		t.Errorf("no lock written for any server: %v", err)
	}
}

// A lock path that is a symlink (into a git checkout) is written through:
// the target gets the new lock, the symlink stays.
func TestHostileApproveReplacesSymlink(t *testing.T) {
	t.Parallel()
	_, notes := notesUpstream(t)
	dir, repo := t.TempDir(), t.TempDir()
	target := filepath.Join(repo, "mcpgate.lock.yaml")
	if err := os.WriteFile(target, []byte("version: 1\nservers: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "mcpgate.lock.yaml")
	if err := os.Symlink(target, lock); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "mcpgate.yaml", fmt.Sprintf("servers:\n  - name: notes\n    url: %q\n    allow_insecure_http: true\n", notes))
	if code, _, stderr := runCLI(t, nil, "approve", "--config", cfg, "--yes"); code != exitOK {
		t.Fatalf("approve: %d %s", code, stderr)
	}
	fi, _ := os.Lstat(lock)
	got, _ := os.ReadFile(target)
	if fi.Mode()&os.ModeSymlink == 0 || !strings.Contains(string(got), "read_note") {
		t.Errorf("the symlink %s was replaced by a file (mode %v); its target %s still holds:\n%s", lock, fi.Mode(), target, got)
	}
}

// approve keeps the mode the lock had.
func TestHostileApproveWidensMode(t *testing.T) {
	t.Parallel()
	_, notes := notesUpstream(t)
	dir := t.TempDir()
	lock := filepath.Join(dir, "mcpgate.lock.yaml")
	if err := os.WriteFile(lock, []byte("version: 1\nservers: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "mcpgate.yaml", fmt.Sprintf("servers:\n  - name: notes\n    url: %q\n    allow_insecure_http: true\n", notes))
	if code, _, stderr := runCLI(t, nil, "approve", "--config", cfg, "--yes"); code != exitOK {
		t.Fatalf("approve: %d %s", code, stderr)
	}
	if fi, _ := os.Stat(lock); fi.Mode().Perm() != 0o600 {
		t.Errorf("a lock of mode 0600 was rewritten with mode %v", fi.Mode().Perm())
	}
}

// --diff --server notes answers for notes only: a server of the lock that
// the configuration no longer has does not count.
func TestHostileApproveDiffServerCountsOthers(t *testing.T) {
	t.Parallel()
	_, notes := notesUpstream(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "mcpgate.yaml", fmt.Sprintf("servers:\n  - name: notes\n    url: %q\n    allow_insecure_http: true\n", notes))
	if code, _, stderr := runCLI(t, nil, "approve", "--config", cfg, "--yes"); code != exitOK {
		t.Fatalf("approve: %d %s", code, stderr)
	}
	lock := filepath.Join(dir, "mcpgate.lock.yaml")
	data, _ := os.ReadFile(lock)
	data = []byte(strings.Replace(string(data), "servers:\n", "servers:\n  gone: {}\n", 1))
	if err := os.WriteFile(lock, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, nil, "approve", "--config", cfg, "--server", "notes", "--diff")
	if code != exitOK {
		t.Errorf("--diff --server notes, notes unchanged: exit %d\n%s%s", code, stdout, stderr)
	}
}
