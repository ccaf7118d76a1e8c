package browser

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/node"
)

// Version is the playwright-core release scripts/install-tools.sh installs
// (its PLAYWRIGHT_CORE_VERSION); Package, its npm prefix under
// testtools.NPMDir.
const (
	Version = "1.64.1"
	Package = "playwright-core-" + Version
)

// DefaultChromium is Debian's chromium package's launcher.
const DefaultChromium = "/usr/bin/chromium"

// DefaultTimeout bounds one Run unless the Runner says otherwise (and the
// test's deadline comes first).
const DefaultTimeout = 2 * time.Minute

//go:embed browser.mjs
var helpers []byte

var chromiumChecked struct {
	sync.Mutex
	err map[string]error
}

// Chromium returns the Chromium binary ($MCPGATE_CHROMIUM, or
// DefaultChromium), checked once per path by running it with --version. If
// it does not run, the test is skipped (failed with MCPGATE_E2E_REQUIRED=1).
func Chromium(t testing.TB) string {
	t.Helper()
	p := os.Getenv("MCPGATE_CHROMIUM")
	if p == "" {
		p = DefaultChromium
	}
	chromiumChecked.Lock()
	defer chromiumChecked.Unlock()
	if chromiumChecked.err == nil {
		chromiumChecked.err = map[string]error{}
	}
	err, done := chromiumChecked.err[p]
	if !done {
		err = testtools.IsExecutable(p)
		if err == nil {
			var out []byte
			out, err = exec.Command(p, "--version").CombinedOutput()
			if err == nil && !strings.Contains(string(out), "Chrom") {
				err = fmt.Errorf("%s --version = %q, want Chromium", p, strings.TrimSpace(string(out)))
			} else if err != nil {
				err = fmt.Errorf("%s --version: %w: %s", p, err, strings.TrimSpace(string(out)))
			}
		}
		chromiumChecked.err[p] = err
	}
	if err != nil {
		testtools.Missing(t, "chromium", err.Error())
	}
	return p
}

var shotDirs struct {
	sync.Mutex
	m map[testing.TB]string
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// ScreenshotDir returns the directory for t's screenshots, the same for
// every call in one test: $MCPGATE_ARTIFACTS/<t.Name(), with every run of
// characters other than letters, digits, '.', '_' and '-' made '_'>/ if
// MCPGATE_ARTIFACTS is set (emptied on the test's first call, so that it
// holds this run's screenshots only, and kept afterwards), or a directory
// under t.TempDir() otherwise.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	shotDirs.Lock()
	defer shotDirs.Unlock()
	if d, ok := shotDirs.m[t]; ok {
		return d
	}
	var d string
	if root := os.Getenv("MCPGATE_ARTIFACTS"); root != "" {
		abs, err := filepath.Abs(root)
		if err != nil {
			t.Fatal(err)
		}
		d = filepath.Join(abs, unsafeName.ReplaceAllString(t.Name(), "_"))
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	} else {
		d = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if shotDirs.m == nil {
		shotDirs.m = map[testing.TB]string{}
	}
	shotDirs.m[t] = d
	t.Cleanup(func() {
		shotDirs.Lock()
		delete(shotDirs.m, t)
		shotDirs.Unlock()
	})
	return d
}

// Runner runs browser scripts for one test, in one directory that holds
// browser.mjs and a node_modules link to playwright-core.
type Runner struct {
	// Node is the Node.js 22 binary; Chromium, the browser's.
	Node, Chromium string
	// Dir holds browser.mjs, node_modules and the scripts run.
	Dir string
	// Screenshots is ScreenshotDir(t), given to the scripts as
	// MCPGATE_SCREENSHOTS.
	Screenshots string
	// Timeout bounds each Run (DefaultTimeout if zero); the test's own
	// deadline, less a few seconds, bounds it too.
	Timeout time.Duration

	n int
}

// New finds Chromium, Node.js 22 and playwright-core (skipping or failing
// t, through testtools.Missing, if one is missing) and prepares a directory
// for scripts.
func New(t testing.TB) *Runner {
	t.Helper()
	chromium := Chromium(t)
	nodeBin := node.Node22(t)
	modules := node.NPMModules(t, Package, "playwright-core")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "browser.mjs"), helpers, 0o600); err != nil {
		t.Fatal(err)
	}
	// ES modules ignore NODE_PATH: bare imports resolve through a
	// node_modules beside the script, as in node.ScriptWithModules.
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(fmt.Errorf("link node_modules: %w", err))
	}
	return &Runner{Node: nodeBin, Chromium: chromium, Dir: dir, Screenshots: ScreenshotDir(t)}
}

// Run runs script, the source of an ES module (it may import
// './browser.mjs' and 'playwright-core'), with Node.js 22 in r.Dir, and
// returns its stdout. env is added to the script's environment (node.Env,
// MCPGATE_CHROMIUM, MCPGATE_SCREENSHOTS, TMPDIR). If the script fails or
// times out, t fails with its stdout and stderr; its stderr is logged
// otherwise.
func (r *Runner) Run(t testing.TB, script string, env map[string]string) string {
	t.Helper()
	r.n++
	path := filepath.Join(r.Dir, fmt.Sprintf("script-%d.mjs", r.n))
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if dl, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dl.Deadline(); ok {
			var cancel2 context.CancelFunc
			ctx, cancel2 = context.WithDeadline(ctx, d.Add(-5*time.Second))
			defer cancel2()
		}
	}
	cmd := exec.CommandContext(ctx, r.Node, path)
	cmd.Dir = r.Dir
	// SIGTERM: Playwright closes the browser on it; Chromium also exits
	// when its DevTools pipe to node closes. SIGKILL 10s later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	tmp := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(node.Env(t, r.Node),
		"MCPGATE_CHROMIUM="+r.Chromium,
		"MCPGATE_SCREENSHOTS="+r.Screenshots,
		"TMPDIR="+tmp,
	)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (%v after %s)", err, ctx.Err(), time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		t.Fatalf("browser script %s: %v\n--- stdout\n%s\n--- stderr\n%s\n--- screenshots in %s",
			path, err, stdout.String(), stderr.String(), r.Screenshots)
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("browser script %s (%s), stderr:\n%s", filepath.Base(path), time.Since(start).Round(time.Millisecond), s)
	}
	return stdout.String()
}

// Run is New(t).Run(t, script, env).
func Run(t testing.TB, script string, env map[string]string) string {
	t.Helper()
	return New(t).Run(t, script, env)
}

// DecodeLast unmarshals the last non-empty line of a script's stdout (a
// script's result, printed with console.log(JSON.stringify(...))) into v.
func DecodeLast(t testing.TB, stdout string, v any) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), v); err != nil {
		t.Fatalf("browser script output: last line %q: %v\n--- stdout\n%s", last, err, stdout)
	}
}
