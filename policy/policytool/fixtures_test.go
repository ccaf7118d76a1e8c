package policytool_test

import (
	"os"
	"path/filepath"
	"testing"
)

// shippedPolicy is the policy library, relative to this package.
const shippedPolicy = "../../rego"

// tinyPolicy has three lines a test can cover; unused is never covered.
const tinyPolicy = `package tiny

default allow := false

allow if input.user == "alice"

unused if input.never
`

// writeFiles writes name → content into a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
