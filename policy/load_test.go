package policy

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const groupPolicy = `package mcpgate.authz

default decision := {"allow": false, "reasons": ["no group grants this server"]}

decision := {"allow": true} if {
	some g in input.user.groups
	data.groups[g].servers[input.server.name]
	data.settings.enabled
}
`

// dirEngine returns an engine that loaded dir.
func dirEngine(t *testing.T, dir string, opts Options) *Engine {
	t.Helper()
	e := newEngine(t, nil, opts)
	if err := e.LoadDir(dir); err != nil {
		t.Fatalf("LoadDir(%s): %v", dir, err)
	}
	return e
}

func TestLoadDirMergesDataAtDirectoryPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"authz.rego":                  groupPolicy,
		"authz_test.rego":             "package mcpgate.authz\ntest_broken if { syntax error",
		"settings/flags.yaml":         "enabled: true\n",
		"groups/engineering/x.json":   `{"servers": {"notes": true}}`,
		".hidden/evil.rego":           "package mcpgate.authz\ndecision := {\"allow\": true}",
		"..2026_01_01/authz.rego":     "package mcpgate.authz\ndecision := {\"allow\": true}",
		"README.md":                   "# not policy",
		"groups/engineering/notes.md": "ignored",
	})
	e := dirEngine(t, dir, Options{})
	if got := e.Decide(context.Background(), callInput("alice")); !got.Allow {
		t.Errorf("engineering on notes: %+v, want allow", got)
	}
	in := callInput("alice")
	in.Server.Name = "hr"
	if got := e.Decide(context.Background(), in); got.Allow {
		t.Errorf("engineering on hr: %+v, want deny", got)
	}
	st := e.Status()
	if st.LoadedAt.IsZero() {
		t.Error("Status.LoadedAt is zero after a load")
	}
	st.LoadedAt = time.Time{}
	if want := (Status{Loaded: true, Revision: e.Revision(), Source: "dir:" + dir}); !cmp.Equal(want, st) {
		t.Errorf("Status = %+v, want %+v", st, want)
	}
}

func TestLoadDirErrorKeepsLastGood(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"authz.rego": allowAlice})
	e := dirEngine(t, dir, Options{})
	rev := e.Revision()
	writeFiles(t, dir, map[string]string{"authz.rego": "package mcpgate.authz\ndecision := {"})
	if err := e.LoadDir(dir); err == nil {
		t.Fatal("LoadDir of a broken policy succeeded")
	}
	if e.Revision() != rev || !e.Decide(context.Background(), callInput("alice")).Allow {
		t.Error("broken load replaced the last good policy")
	}
	if st := e.Status(); !strings.Contains(st.LastError, "authz.rego") || st.LastErrorTime.IsZero() {
		t.Errorf("Status = %+v, want the parse error", st)
	}
	if err := e.LoadDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadDir of a missing directory succeeded")
	}
}

// TestReloadUnderLoad swaps good → broken → good → failing-at-runtime
// while decisions run, and checks every decision against the revision that
// made it.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	allowAll := "package mcpgate.authz\ndecision := {\"allow\": true}"
	brokenAllow := "package mcpgate.authz\ndecision := {\"allow\": true} if http.send({}).status_code == 200"
	denyAll := "package mcpgate.authz\ndecision := {\"allow\": false, \"reasons\": [\"closed\"]}"
	failing := "package mcpgate.authz\ndecision := {\"allow\": to_number(input.method) > 0}"

	e := newEngine(t, map[string]string{"p.rego": allowAll}, Options{})
	allowRev := e.Revision()
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		seen    = map[string]map[bool]int{}
		badSeen []Decision
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				d := e.Decide(context.Background(), callInput("alice"))
				mu.Lock()
				if seen[d.Revision] == nil {
					seen[d.Revision] = map[bool]int{}
				}
				seen[d.Revision][d.Allow]++
				if d.Allow && d.Revision != allowRev {
					badSeen = append(badSeen, d)
				}
				mu.Unlock()
			}
		}()
	}
	// settle waits until the deciders made 50 decisions with rev.
	settle := func(rev string) {
		for {
			mu.Lock()
			n := seen[rev][true] + seen[rev][false]
			mu.Unlock()
			if n >= 50 {
				return
			}
			runtime.Gosched()
		}
	}
	load := func(src string) (string, error) {
		err := e.LoadModules(map[string]string{"p.rego": src}, nil)
		return e.Revision(), err
	}
	settle(allowRev)
	for range 5 {
		if rev, err := load(brokenAllow); err == nil || rev != allowRev {
			t.Errorf("broken load: err=%v rev=%s, want error and %s", err, rev, allowRev)
		}
	}
	settle(allowRev)
	denyRev, err := load(denyAll)
	if err != nil || denyRev == allowRev {
		t.Errorf("deny load: err=%v rev=%s", err, denyRev)
	}
	settle(denyRev)
	failRev, err := load(failing)
	if err != nil || failRev == denyRev {
		t.Errorf("failing load: err=%v rev=%s", err, failRev)
	}
	settle(failRev)
	stop.Store(true)
	wg.Wait()
	if len(badSeen) > 0 {
		t.Errorf("allowed by a revision other than the allow-all one: %+v", badSeen[0])
	}
	for rev := range seen {
		if rev != allowRev && rev != denyRev && rev != failRev {
			t.Errorf("decision with unexpected revision %q", rev)
		}
	}
	if seen[failRev][true] > 0 || seen[denyRev][true] > 0 {
		t.Errorf("decisions per revision: %v", seen)
	}
}
