package testtools

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const installHint = "install with: bash scripts/install-tools.sh"

// Required reports whether MCPGATE_E2E_REQUIRED=1. Then a missing tool is a
// test failure (t.Fatal); otherwise the test is skipped with a visible message.
func Required() bool { return os.Getenv("MCPGATE_E2E_REQUIRED") == "1" }

// missing fails or skips t because tool is not available.
func missing(t testing.TB, tool, detail string) {
	t.Helper()
	msg := fmt.Sprintf("e2e: %s not available (%s; %s)", tool, detail, installHint)
	if Required() {
		t.Fatal(msg + " [MCPGATE_E2E_REQUIRED=1]")
	}
	t.Skip(msg)
}

// CacheDir is $MCPGATE_CACHE, or $HOME/.cache/mcpgate.
func CacheDir() string {
	if d := os.Getenv("MCPGATE_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "mcpgate")
}

// ToolsBin is $MCPGATE_TOOLS_BIN, or CacheDir()/bin.
func ToolsBin() string {
	if d := os.Getenv("MCPGATE_TOOLS_BIN"); d != "" {
		return d
	}
	return filepath.Join(CacheDir(), "bin")
}

// NPMDir is $MCPGATE_NPM_DIR, or the "npm" directory beside ToolsBin().
func NPMDir() string {
	if d := os.Getenv("MCPGATE_NPM_DIR"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(ToolsBin()), "npm")
}

func isExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// EverythingServerBin returns the path of the go-sdk conformance fixture
// (github.com/modelcontextprotocol/go-sdk/conformance/everything-server).
func EverythingServerBin(t testing.TB) string {
	t.Helper()
	p := filepath.Join(ToolsBin(), "everything-server")
	if err := isExecutable(p); err != nil {
		missing(t, "everything-server (go-sdk conformance fixture)", err.Error())
	}
	return p
}

var node22Version struct {
	sync.Mutex
	checked map[string]error
}

// Node22 returns the path of a Node.js 22 binary ($MCPGATE_NODE22, or
// ToolsBin()/node22). Its version is checked once per path.
func Node22(t testing.TB) string {
	t.Helper()
	p := os.Getenv("MCPGATE_NODE22")
	if p == "" {
		p = filepath.Join(ToolsBin(), "node22")
	}
	node22Version.Lock()
	defer node22Version.Unlock()
	if node22Version.checked == nil {
		node22Version.checked = map[string]error{}
	}
	err, done := node22Version.checked[p]
	if !done {
		err = isExecutable(p)
		if err == nil {
			var out []byte
			out, err = exec.Command(p, "--version").Output()
			v := strings.TrimSpace(string(out))
			if err == nil && !strings.HasPrefix(v, "v22.") {
				err = fmt.Errorf("%s --version = %q, want v22.*", p, v)
			}
		}
		node22Version.checked[p] = err
	}
	if err != nil {
		missing(t, "node 22", err.Error())
	}
	return p
}

// NPMPackageBin resolves the bin script bin of an npm package pre-installed
// by scripts/install-tools.sh into the npm prefix NPMDir()/pkgPrefixName (for
// example "conformance-0.1.16", "conformance"). It returns the script's real
// path (a .js file): run it with Node22, for example through NodeCommand, not
// directly, since its "#!/usr/bin/env node" line would pick the machine's node.
func NPMPackageBin(t testing.TB, pkgPrefixName, bin string) string {
	t.Helper()
	link := filepath.Join(NPMDir(), pkgPrefixName, "node_modules", ".bin", bin)
	p, err := filepath.EvalSymlinks(link)
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(p); err == nil && st.IsDir() {
			err = fmt.Errorf("%s is a directory", p)
		}
	}
	if err != nil {
		missing(t, "npm package "+pkgPrefixName+" (bin "+bin+")", err.Error())
	}
	return p
}

// cleanEnv is the whole environment given to the Node.js processes this
// package starts: PATH with node 22's directory first, and a fresh HOME.
func cleanEnv(t testing.TB, node string) []string {
	t.Helper()
	return []string{
		"PATH=" + filepath.Dir(node) + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + t.TempDir(),
		"NO_COLOR=1",
		"NODE_ENV=test",
	}
}
