package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testtools"
)

var node22Version struct {
	sync.Mutex
	checked map[string]error
}

// Node22 returns the path of a Node.js 22 binary ($MCPGATE_NODE22, or
// testtools.ToolsBin()/node22). Its version is checked once per path.
func Node22(t testing.TB) string {
	t.Helper()
	p := os.Getenv("MCPGATE_NODE22")
	if p == "" {
		p = filepath.Join(testtools.ToolsBin(), "node22")
	}
	node22Version.Lock()
	defer node22Version.Unlock()
	if node22Version.checked == nil {
		node22Version.checked = map[string]error{}
	}
	err, done := node22Version.checked[p]
	if !done {
		err = testtools.IsExecutable(p)
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
		testtools.Missing(t, "node 22", err.Error())
	}
	return p
}

// NPMPackageBin resolves the bin script bin of an npm package pre-installed
// by scripts/install-tools.sh into the npm prefix testtools.NPMDir()/pkgPrefixName (for
// example "conformance-0.1.16", "conformance"). It returns the script's real
// path (a .js file): run it with Node22, for example through NodeCommand, not
// directly, since its "#!/usr/bin/env node" line would pick the machine's node.
func NPMPackageBin(t testing.TB, pkgPrefixName, bin string) string {
	t.Helper()
	link := filepath.Join(testtools.NPMDir(), pkgPrefixName, "node_modules", ".bin", bin)
	p, err := filepath.EvalSymlinks(link)
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(p); err == nil && st.IsDir() {
			err = fmt.Errorf("%s is a directory", p)
		}
	}
	if err != nil {
		testtools.Missing(t, "npm package "+pkgPrefixName+" (bin "+bin+")", err.Error())
	}
	return p
}

// Env is the whole environment to give a Node.js process: PATH with node 22's directory first, and a fresh HOME.
func Env(t testing.TB, node string) []string {
	t.Helper()
	return []string{
		"PATH=" + filepath.Dir(node) + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + t.TempDir(),
		"NO_COLOR=1",
		"NODE_ENV=test",
	}
}
