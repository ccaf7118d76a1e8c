package charttest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// libraryFiles returns the shipped policy library (rego/*.rego of the
// repository, tests left out) by file name, and checks that the chart's
// copy in files/policy/ is identical: the chart ships the library of its
// own version, and this test fails until the copy is refreshed.
func libraryFiles(t *testing.T) map[string]string {
	t.Helper()
	repo, err := filepath.Glob("../../rego/*.rego")
	if err != nil || len(repo) == 0 {
		t.Fatalf("no rego/*.rego in the repository (%v)", err)
	}
	lib := map[string]string{}
	for _, p := range repo {
		if !strings.HasSuffix(p, "_test.rego") {
			lib[filepath.Base(p)] = readFile(t, p)
		}
	}
	copies, _ := filepath.Glob(filepath.Join(chartDir, "files", "policy", "*"))
	var names []string
	for _, p := range copies {
		names = append(names, filepath.Base(p))
	}
	if !slices.Equal(names, keys(lib)) {
		t.Errorf("charts/mcpgate/files/policy has %v, rego/ has %v; refresh the copy:\n  rm charts/mcpgate/files/policy/*.rego && for f in rego/*.rego; do case $f in *_test.rego) ;; *) cp $f charts/mcpgate/files/policy/;; esac; done", names, keys(lib))
	}
	for name, src := range lib {
		if p := filepath.Join(chartDir, "files", "policy", name); fileExists(p) && readFile(t, p) != src {
			t.Errorf("charts/mcpgate/files/policy/%s differs from rego/%s: copy it again", name, name)
		}
	}
	return lib
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestPolicyLibraryCopyIsCurrent(t *testing.T) { libraryFiles(t) }

// valuePaths lists the documented values of values.yaml: a key whose schema
// is a closed object (additionalProperties false) is a group, and its keys
// are listed instead; every other key is one value.
func valuePaths(t *testing.T) []string {
	t.Helper()
	var values map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, chartDir+"/values.yaml")), &values); err != nil {
		t.Fatal(err)
	}
	var paths []string
	var walk func(prefix string, v map[string]any, schema map[string]any)
	walk = func(prefix string, v map[string]any, schema map[string]any) {
		props, _ := schema["properties"].(map[string]any)
		for _, k := range keys(v) {
			path := prefix + k
			sub, _ := props[k].(map[string]any)
			if sub == nil {
				t.Errorf("values.yaml %s has no schema", path)
				continue
			}
			if m, ok := v[k].(map[string]any); ok && len(m) > 0 && sub["additionalProperties"] == false && sub["properties"] != nil {
				walk(path+".", m, sub)
				continue
			}
			paths = append(paths, path)
		}
	}
	walk("", values, loadSchema(t))
	return paths
}

// TestReadmeListsEveryValue fails when a value is added without a row in
// the chart README's table.
func TestReadmeListsEveryValue(t *testing.T) {
	readme := readFile(t, chartDir+"/README.md")
	for _, p := range valuePaths(t) {
		if !strings.Contains(readme, "| `"+p+"` |") {
			t.Errorf("README.md has no table row for %s (| `%s` | description | default |)", p, p)
		}
	}
}

// TestSchemaDescribesEveryValue checks the schema the other way round: each
// chart value it defines exists in values.yaml with a description (the
// config subtree is compared with the gateway's type instead).
func TestSchemaDescribesEveryValue(t *testing.T) {
	var values map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, chartDir+"/values.yaml")), &values); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, s map[string]any, v any)
	walk = func(path string, s map[string]any, v any) {
		if s["description"] == nil {
			t.Errorf("values.schema.json %s has no description", path)
		}
		if path == "config" {
			return
		}
		m, _ := v.(map[string]any)
		props, _ := s["properties"].(map[string]any)
		for name, sub := range props {
			p := strings.TrimPrefix(path+"."+name, ".")
			val, ok := m[name]
			if !ok && p != "global" {
				t.Errorf("values.schema.json defines %s, which values.yaml does not have", p)
			}
			walk(p, sub.(map[string]any), val)
		}
	}
	schema := loadSchema(t)
	if schema["$schema"] != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("values.schema.json $schema = %v, want draft-07", schema["$schema"])
	}
	walk("", schema, values)
}
