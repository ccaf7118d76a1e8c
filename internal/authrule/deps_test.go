package authrule

import (
	"go/build"
	"strings"
	"testing"
)

// The package is shared by config, the YAML model, and the runtime: it
// must stay free of anything but the standard library.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	t.Parallel()
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("authrule imports %s: only the standard library is allowed", imp)
		}
	}
}
