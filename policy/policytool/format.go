package policytool

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
)

// FmtOptions configure Fmt. The zero value only lists files.
type FmtOptions struct {
	// Write rewrites the files not in opa fmt style in place.
	Write bool
}

// Fmt returns the Rego files under paths (DefaultDir if none) that are not
// in opa fmt style, in walk order, and rewrites them if opts.Write is set.
// On error it returns the files found so far. A nil opts means the zero
// FmtOptions.
func Fmt(paths []string, opts *FmtOptions) ([]string, error) {
	names, err := regoFiles(pathsOrDefault(paths))
	if err != nil {
		return nil, &Error{Op: "fmt", Err: err}
	}
	var unformatted []string
	for _, name := range names {
		changed, err := formatFile(name, opts != nil && opts.Write)
		if changed {
			unformatted = append(unformatted, name)
		}
		if err != nil {
			return unformatted, &Error{Op: "fmt", Err: err}
		}
	}
	return unformatted, nil
}

// regoFiles returns the .rego files under roots.
func regoFiles(roots []string) ([]string, error) {
	var names []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".rego") {
				names = append(names, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return names, nil
}

// formatFile says whether the file name is not in opa fmt style, and
// rewrites it if write is set.
func formatFile(name string, write bool) (changed bool, err error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return false, err
	}
	out, err := formatSource(name, src)
	if err != nil {
		return false, fmt.Errorf("format %s: %w", name, err)
	}
	if bytes.Equal(out, src) {
		return false, nil
	}
	if write {
		return true, os.WriteFile(name, out, 0o644)
	}
	return true, nil
}

// formatted says whether src is in opa fmt style.
func formatted(name string, src []byte) bool {
	out, err := formatSource(name, src)
	return err == nil && bytes.Equal(out, src)
}

func formatSource(name string, src []byte) ([]byte, error) {
	po := parserOptions()
	return format.SourceWithOpts(name, src, format.Opts{RegoVersion: ast.RegoV1, ParserOptions: &po})
}
