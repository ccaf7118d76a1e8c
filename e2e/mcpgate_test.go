package e2e

import (
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// mcpgateBinary builds cmd/mcpgate once per test run and returns its path,
// so end-to-end tests run the real binary.
func mcpgateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mcpgate")
		buildOut, buildErr = exec.Command("go", "build", "-o", binPath, "../cmd/mcpgate").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/mcpgate: %v\n%s", buildErr, buildOut)
	}
	return binPath
}
