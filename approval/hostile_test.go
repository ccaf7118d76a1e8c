package approval

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sdkTool is a tool as the gateway holds it: the upstream's JSON decoded by
// the go-sdk and encoded again (gateway/features.go mustJSON).
func sdkTool(t *testing.T, js string) Item {
	t.Helper()
	var tool mcp.Tool
	if err := json.Unmarshal([]byte(js), &tool); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(&tool)
	return mustItem(t, KindTool, json.RawMessage(raw))
}

// A tool definition nested 6000 deep (36 KB, which the go-sdk decodes and
// the gateway serves) makes a lock that grows with it, not with the square
// of its depth (block style indents every level): one hostile upstream
// cannot stop the approval of every server by making the lock too large.
func TestHostileDeepSchemaBlocksWholeLock(t *testing.T) {
	good := mustItem(t, KindTool, &mcp.Tool{Name: "read_note", Description: "Read.", InputSchema: json.RawMessage(`{"type":"object"}`)})
	const depth = 6000
	js := `{"name":"deep","inputSchema":{"type":"object","x":` + strings.Repeat(`{"x":`, depth) + `1` + strings.Repeat(`}`, depth) + `}}`
	evil := sdkTool(t, js)
	l := (&Lock{}).Approve("notes", []Item{good}).Approve("evil", []Item{evil})
	out, err := l.Marshal()
	if err != nil {
		t.Fatalf("a %d-byte definition makes the whole lock unwritable: %v", len(js), err)
	}
	if len(out) > 100*len(js) {
		t.Errorf("a %d-byte definition is %d bytes of lock", len(js), len(out))
	}
}

func startWatch(t *testing.T, path string) (chan Loaded, chan error, string) {
	t.Helper()
	l, err := Load(path, []string{"notes"})
	if err != nil {
		t.Fatal(err)
	}
	loaded, failed := make(chan Loaded, 100), make(chan error, 100)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := Watch(ctx, path, []string{"notes"}, l.Revision, func(l Loaded) { loaded <- l }, func(err error) { failed <- err }); err != nil {
		t.Fatal(err)
	}
	return loaded, failed, l.Revision
}

func lockBytes(t *testing.T, n int) []byte {
	t.Helper()
	b, err := (*Lock)(nil).Approve("notes", approvedItems(t)[:n]).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A directory written more often than the debounce (a log beside the
// configuration, where the lock is by default) does not put the reload off:
// only events of the lock itself count, and the debounce runs from the
// first of them.
func TestHostileWatchStarvedByBusyDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mcpgate.lock.yaml")
	os.WriteFile(path, lockBytes(t, 1), 0o644)
	loaded, failed, _ := startWatch(t, path)
	stop, stopped := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-stopped }() // before TempDir's cleanup
	go func() {
		defer close(stopped)
		f, _ := os.Create(filepath.Join(dir, "decisions.log"))
		defer f.Close()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				f.WriteString("{}\n")
			}
		}
	}()
	os.WriteFile(path+".tmp", lockBytes(t, 3), 0o644)
	os.Rename(path+".tmp", path)
	select {
	case <-loaded:
	case err := <-failed:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("the re-approved lock was not loaded within 5 s: a busy directory keeps resetting the debounce")
	}
}

// A change that does not load and is then undone (the ConfigMap rolled
// back) is reported as recovered: the caller is told of the good lock
// again, and so clears its error (/readyz approval_lock.error).
func TestHostileWatchErrorNeverClears(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mcpgate.lock.yaml")
	good := lockBytes(t, 1)
	os.WriteFile(path, good, 0o644)
	loaded, failed, _ := startWatch(t, path)
	os.WriteFile(path+".tmp", []byte("version: 1\nservers:\n  ghost: {}\n"), 0o644)
	os.Rename(path+".tmp", path)
	select {
	case <-failed:
	case <-time.After(5 * time.Second):
		t.Fatal("the bad lock was not reported")
	}
	os.WriteFile(path+".tmp", good, 0o644)
	os.Rename(path+".tmp", path)
	select {
	case <-loaded:
	case err := <-failed:
		t.Fatal(err)
	case <-time.After(3 * time.Second):
		t.Fatal("the restored lock loads, but the caller is never told: its error stays in /readyz")
	}
}

// The lock's directory removed and made again (a checkout, a deployment
// tool that replaces it): the poll watches it again and the lock reloads.
func TestHostileWatchDirectoryRecreated(t *testing.T) {
	defer func(p time.Duration) { watchPoll = p }(watchPoll)
	watchPoll = 100 * time.Millisecond
	root := t.TempDir()
	dir := filepath.Join(root, "approval")
	os.Mkdir(dir, 0o755)
	path := filepath.Join(dir, "mcpgate.lock.yaml")
	os.WriteFile(path, lockBytes(t, 1), 0o644)
	loaded, _, _ := startWatch(t, path)
	os.RemoveAll(dir)
	time.Sleep(300 * time.Millisecond)
	os.Mkdir(dir, 0o755)
	os.WriteFile(path, lockBytes(t, 3), 0o644)
	select {
	case <-loaded:
	case <-time.After(5 * time.Second):
		t.Fatal("after its directory was recreated the lock is never reloaded")
	}
}

// A lock path that is a symlink to a file in another directory (a git
// checkout elsewhere): the target's directory is watched too.
func TestHostileWatchSymlinkElsewhere(t *testing.T) {
	repo, etc := t.TempDir(), t.TempDir()
	target := filepath.Join(repo, "mcpgate.lock.yaml")
	os.WriteFile(target, lockBytes(t, 1), 0o644)
	path := filepath.Join(etc, "mcpgate.lock.yaml")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	loaded, _, _ := startWatch(t, path)
	os.WriteFile(target+".tmp", lockBytes(t, 3), 0o644)
	os.Rename(target+".tmp", target)
	select {
	case <-loaded:
	case <-time.After(3 * time.Second):
		t.Fatal("the symlinked lock's target changed and was not reloaded")
	}
}

// A lock that does not load is reported once, not again at every event of
// its directory.
func TestHostileWatchRepeatsSameError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mcpgate.lock.yaml")
	os.WriteFile(path, lockBytes(t, 1), 0o644)
	_, failed, _ := startWatch(t, path)
	os.WriteFile(path+".tmp", []byte("version: 1\nservers:\n  ghost: {}\n"), 0o644)
	os.Rename(path+".tmp", path)
	time.Sleep(500 * time.Millisecond)
	for i := range 5 {
		os.WriteFile(filepath.Join(dir, "other"), []byte{byte(i)}, 0o644)
		time.Sleep(300 * time.Millisecond)
	}
	select {
	case <-failed: // reported once
	default:
		t.Fatal("the broken lock was never reported")
	}
	if n := len(failed); n != 0 {
		t.Errorf("one broken lock, unchanged, reported %d more times (the lock file did not change after the first)", n)
	}
}
