package testtools

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

const installHint = "install with: bash scripts/install-tools.sh"

// Required reports whether MCPGATE_E2E_REQUIRED=1. Then a missing tool is a
// test failure (t.Fatal); otherwise the test is skipped with a visible message.
func Required() bool { return os.Getenv("MCPGATE_E2E_REQUIRED") == "1" }

// Missing fails or skips t because tool is not available.
func Missing(t testing.TB, tool, detail string) {
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

// IsExecutable reports why path is not an executable file, or nil.
func IsExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}
