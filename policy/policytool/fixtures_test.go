package policytool_test

import (
	"os"
	"testing"
	"testing/fstest"
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
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content), Mode: 0o644}
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, fsys); err != nil {
		t.Fatal(err)
	}
	return dir
}
