// Package rego embeds mcpgate's shipped policy library (the .rego files and
// data.json of this directory), so `mcpgate dev` runs it from any working
// directory. The library itself is Rego; see docs/policy.md.
package rego

import (
	"embed"
	"encoding/json"
	"io/fs"
	"strings"
)

//go:embed *.rego data.json
var files embed.FS

// Library returns the library's policy modules by file name, without their
// tests, and its default data (the demo data of `mcpgate dev`).
func Library() (modules map[string]string, data map[string]any, err error) {
	if modules, err = Modules(); err != nil {
		return nil, nil, err
	}
	raw, err := files.ReadFile("data.json")
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		return nil, nil, err
	}
	return modules, data, nil
}

// Modules returns the library's policy modules by file name, without their
// tests and without data: what `policy.library: builtin` compiles with the
// organisation's own data.
func Modules() (map[string]string, error) {
	entries, err := fs.Glob(files, "*.rego")
	if err != nil {
		return nil, err
	}
	modules := map[string]string{}
	for _, name := range entries {
		if strings.HasSuffix(name, "_test.rego") {
			continue
		}
		src, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		modules[name] = string(src)
	}
	return modules, nil
}
