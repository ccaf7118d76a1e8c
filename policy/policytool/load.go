package policytool

import (
	"io/fs"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultDir is the policy directory the tools read when given no path.
const DefaultDir = "rego"

// pathsOrDefault returns paths, or DefaultDir if there are none.
func pathsOrDefault(paths []string) []string {
	if len(paths) == 0 {
		return []string{DefaultDir}
	}
	return paths
}

// parserOptions are the parser options of every tool: Rego v1, with
// annotations (METADATA comments) processed.
func parserOptions() ast.ParserOptions {
	return ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
}

// isTestFile says whether name is a Rego test file.
func isTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// skipTests is a loader filter that leaves out Rego test files.
func skipTests(_ string, info fs.FileInfo, _ int) bool {
	return !info.IsDir() && isTestFile(info.Name())
}
