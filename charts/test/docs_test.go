package charttest

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

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
