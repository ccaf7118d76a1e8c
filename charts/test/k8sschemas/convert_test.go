package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mcpgate/mcpgate/internal/testtools"
)

func loadFragment(t *testing.T) *Swagger {
	t.Helper()
	f, err := os.Open("testdata/swagger-fragment.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := LoadSwagger(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fragmentFiles converts the fragment and returns the finished schemas by
// file name.
func fragmentFiles(t *testing.T, strict bool) map[string]object {
	t.Helper()
	kinds, err := loadFragment(t).Kinds()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]object{}
	for _, k := range kinds {
		files[k.GVK.FileName()] = roundTrip(t, Finish(k, strict))
	}
	return files
}

// roundTrip returns the schema as the written file decodes.
func roundTrip(t *testing.T, s object) object {
	t.Helper()
	b, err := Marshal(s, false)
	if err != nil {
		t.Fatal(err)
	}
	var out object
	if err := decodeJSON(bytes.NewReader(b), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// at walks a path of keys (and "[]" for the single items schema).
func at(t *testing.T, s object, path ...string) object {
	t.Helper()
	cur := s
	for i, p := range path {
		next, ok := cur[p].(object)
		if !ok {
			t.Fatalf("no object at %s", strings.Join(path[:i+1], "."))
		}
		cur = next
	}
	return cur
}

// kubeconformFileName transcribes kubeconform v0.8.0's
// pkg/registry.schemaPath for the "{{ .ResourceKind }}{{ .KindSuffix }}.json"
// part of its schema location, from a resource's kind and apiVersion.
func kubeconformFileName(kind, apiVersion string) string {
	groupParts := strings.Split(apiVersion, "/")
	versionParts := strings.Split(groupParts[0], ".")
	kindSuffix := "-" + strings.ToLower(versionParts[0])
	if len(groupParts) > 1 {
		kindSuffix += "-" + strings.ToLower(groupParts[1])
	}
	return strings.ToLower(kind) + kindSuffix + ".json"
}

func TestFileNames(t *testing.T) {
	kinds, err := loadFragment(t).Kinds()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range kinds {
		name := k.GVK.FileName()
		got = append(got, name)
		if kc := kubeconformFileName(k.GVK.Kind, k.GVK.APIVersion()); kc != name {
			t.Errorf("%+v: file %s, kubeconform looks for %s", k.GVK, name, kc)
		}
	}
	want := []string{
		"customresourcedefinition-apiextensions-v1.json",
		"deleteoptions-apps-v1.json", // one file per x-kubernetes-group-version-kind entry
		"deleteoptions-v1.json",
		"deployment-apps-v1.json",
		"horizontalpodautoscaler-autoscaling-v2.json",
		"ingress-networking-v1.json",
		"networkpolicy-networking-v1.json",
		"poddisruptionbudget-policy-v1.json",
		"service-v1.json",
		"storageversion-internal-v1alpha1.json", // group internal.apiserver.k8s.io: its first label, not the Go package's name
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("files:\n got %q\nwant %q", got, want)
	}
}

func TestRefsInlined(t *testing.T) {
	for name, s := range fragmentFiles(t, true) {
		var refs []string
		walkAll(s, func(m object) {
			if r, ok := m["$ref"].(string); ok && !strings.HasPrefix(r, "#/$defs/") {
				refs = append(refs, r)
			}
		})
		if len(refs) > 0 {
			t.Errorf("%s: $refs left: %q", name, refs)
		}
		if s["$schema"] != schemaDialect {
			t.Errorf("%s: $schema %v", name, s["$schema"])
		}
	}
	d := fragmentFiles(t, true)["deployment-apps-v1.json"]
	c := at(t, d, "properties", "spec", "properties", "template", "properties", "spec", "properties", "containers", "items")
	if c["description"] != "A single application container." {
		t.Errorf("containers.items not inlined: %v", c)
	}
	// The keys beside a $ref give way to the referenced definition's.
	md := at(t, d, "properties", "metadata")
	if md["description"] != "ObjectMeta is metadata that all persisted resources must have." {
		t.Errorf("metadata description %q", md["description"])
	}
	ts := at(t, md, "properties", "creationTimestamp")
	if ts["format"] != "date-time" || !reflect.DeepEqual(ts["type"], []any{"string", "null"}) {
		t.Errorf("creationTimestamp: %v", ts)
	}
}

func TestIntOrStringAndQuantity(t *testing.T) {
	files := fragmentFiles(t, false)
	d := files["deployment-apps-v1.json"]
	ru := at(t, d, "properties", "spec", "properties", "strategy", "properties", "rollingUpdate", "properties")
	optional := []any{object{"type": "string"}, object{"type": "integer"}, object{"type": "null"}}
	for _, f := range []string{"maxSurge", "maxUnavailable"} {
		if got := at(t, ru, f); !reflect.DeepEqual(got, object{"oneOf": optional}) {
			t.Errorf("%s: %v", f, got)
		}
	}
	// Required: no null branch.
	tp := at(t, files["service-v1.json"], "properties", "spec", "properties", "ports", "items", "properties", "targetPort")
	if want := (object{"oneOf": []any{object{"type": "string"}, object{"type": "integer"}}}); !reflect.DeepEqual(tp, want) {
		t.Errorf("targetPort: %v", tp)
	}
	lim := at(t, d, "properties", "spec", "properties", "template", "properties", "spec", "properties",
		"containers", "items", "properties", "resources", "properties", "limits", "additionalProperties")
	if want := (object{"oneOf": []any{object{"type": "string"}, object{"type": "number"}, object{"type": "null"}}}); !reflect.DeepEqual(lim, want) {
		t.Errorf("limits values (Quantity): %v", lim)
	}
}

func TestNullable(t *testing.T) {
	d := fragmentFiles(t, false)["deployment-apps-v1.json"]
	if d["type"] != "object" {
		t.Errorf("root type %v", d["type"])
	}
	spec := at(t, d, "properties", "spec")
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"properties", "spec"}, []any{"object", "null"}},
		{[]string{"properties", "spec", "properties", "replicas"}, []any{"integer", "null"}},
		{[]string{"properties", "spec", "properties", "selector"}, "object"}, // required
		{[]string{"properties", "spec", "properties", "template"}, "object"}, // required
		{[]string{"properties", "spec", "properties", "template", "properties", "spec", "properties", "containers"}, "array"},
		{[]string{"properties", "spec", "properties", "template", "properties", "spec", "properties", "containers", "items"}, []any{"object", "null"}},
		{[]string{"properties", "spec", "properties", "template", "properties", "spec", "properties", "containers", "items", "properties", "name"}, "string"},
		{[]string{"properties", "spec", "properties", "template", "properties", "spec", "properties", "containers", "items", "properties", "args", "items"}, []any{"string", "null"}},
		{[]string{"properties", "metadata", "properties", "labels", "additionalProperties"}, []any{"string", "null"}},
		{[]string{"properties", "apiVersion"}, []any{"string", "null"}},
	}
	for _, c := range checks {
		if got := at(t, d, c.path...)["type"]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: type %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
	_ = spec
	// apiVersion and kind are pinned, without null (as openapi2jsonschema).
	if got := at(t, d, "properties", "apiVersion")["enum"]; !reflect.DeepEqual(got, []any{"apps/v1"}) {
		t.Errorf("apiVersion enum %v", got)
	}
	if got := at(t, d, "properties", "kind")["enum"]; !reflect.DeepEqual(got, []any{"Deployment"}) {
		t.Errorf("kind enum %v", got)
	}
	del := fragmentFiles(t, false)["deleteoptions-apps-v1.json"]
	if got := at(t, del, "properties", "apiVersion")["enum"]; !reflect.DeepEqual(got, []any{"apps/v1"}) {
		t.Errorf("DeleteOptions apps/v1 apiVersion enum %v", got)
	}
}

func TestStrict(t *testing.T) {
	for _, strict := range []bool{false, true} {
		for name, s := range fragmentFiles(t, strict) {
			walkSchemas(s, func(m object) {
				_, props := m["properties"]
				ap, hasAP := m["additionalProperties"]
				switch {
				case strict && props && !hasAP:
					t.Errorf("%s strict: object with properties and no additionalProperties: %v", name, m["description"])
				case !strict && ap == false:
					t.Errorf("%s: additionalProperties false outside strict: %v", name, m["description"])
				}
			})
		}
	}
	d := fragmentFiles(t, true)["deployment-apps-v1.json"]
	if d["additionalProperties"] != false {
		t.Error("root of a strict file allows additional properties")
	}
	// Maps keep their value schema.
	labels := at(t, d, "properties", "metadata", "properties", "labels")
	if _, ok := labels["additionalProperties"].(object); !ok {
		t.Errorf("labels additionalProperties %v", labels["additionalProperties"])
	}
}

func TestRecursiveRefs(t *testing.T) {
	s := fragmentFiles(t, true)["customresourcedefinition-apiextensions-v1.json"]
	defs, ok := s["$defs"].(object)
	if !ok {
		t.Fatalf("no $defs: %v", s)
	}
	const props = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"
	if len(defs) != 1 || defs[props] == nil {
		t.Fatalf("$defs: %v", defs)
	}
	var refs []string
	walkAll(s, func(m object) {
		if r, ok := m["$ref"].(string); ok {
			refs = append(refs, r)
			if defs[strings.TrimPrefix(r, "#/$defs/")] == nil {
				t.Errorf("dangling %s", r)
			}
		}
	})
	if len(refs) != 4 { // inlined once under the spec: properties and not; the same in $defs
		t.Errorf("local refs: %q", refs)
	}
	oa := at(t, s, "properties", "spec", "properties", "openAPIV3Schema")
	if oa["description"] != "JSONSchemaProps is a JSON-Schema following Specification Draft 4." {
		t.Errorf("openAPIV3Schema not inlined once: %v", oa)
	}
}

// validator compiles a finished schema with google/jsonschema-go (a 2020-12
// validator, as kubeconform's validator is for these files).
func validator(t *testing.T, s object) *jsonschema.Resolved {
	t.Helper()
	s = shallowCopy(s)
	delete(s, "$schema") // its own dialect detection does not know the draft-less URL
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var js jsonschema.Schema
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	r, err := js.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func yamlish(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidation(t *testing.T) {
	files := fragmentFiles(t, true)
	dep := validator(t, files["deployment-apps-v1.json"])
	const base = `"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "labels": {"a": "b"}, "creationTimestamp": null}`
	spec := func(s string) string { return `{` + base + `, "spec": ` + s + `}` }
	const tmpl = `"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "c", "image": "i"%s}]}}`
	for _, c := range []struct {
		name, doc string
		ok        bool
	}{
		{"valid", spec(`{"replicas": 2, ` + sprintf(tmpl, "") + `}`), true},
		{"replicas null", spec(`{"replicas": null, ` + sprintf(tmpl, "") + `}`), true},
		{"replicas string", spec(`{"replicas": "two", ` + sprintf(tmpl, "") + `}`), false},
		{"unknown container field", spec(`{` + sprintf(tmpl, `, "imagePullPolicyy": "Always"`) + `}`), false},
		{"unknown top-level field", `{` + base + `, "spec": {` + sprintf(tmpl, "") + `}, "extra": 1}`, false},
		{"missing required selector", spec(`{"template": {}}`), false},
		{"maxSurge percent", spec(`{"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}, ` + sprintf(tmpl, "") + `}`), true},
		{"maxSurge null", spec(`{"strategy": {"rollingUpdate": {"maxSurge": null}}, ` + sprintf(tmpl, "") + `}`), true},
		{"maxSurge bool", spec(`{"strategy": {"rollingUpdate": {"maxSurge": true}}, ` + sprintf(tmpl, "") + `}`), false},
		{"cpu number", spec(`{` + sprintf(tmpl, `, "resources": {"limits": {"cpu": 1, "memory": "128Mi"}}`) + `}`), true},
		{"cpu bool", spec(`{` + sprintf(tmpl, `, "resources": {"limits": {"cpu": true}}`) + `}`), false},
		{"wrong apiVersion", `{"apiVersion": "apps/v2", "kind": "Deployment"}`, false},
	} {
		err := dep.Validate(yamlish(t, c.doc))
		if (err == nil) != c.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func sprintf(format, s string) string { return strings.Replace(format, "%s", s, 1) }

const testCRD = `
# two documents, one not a CRD
apiVersion: v1
kind: Namespace
metadata: {name: ignored}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              required: [size]
              properties:
                size:
                  anyOf: [{type: integer}, {type: string}]
                  x-kubernetes-int-or-string: true
                mode:
                  type: string
                  enum: [Fast, Slow]
                tags:
                  type: array
                  items: {type: string}
                note:
                  type: string
                  nullable: true
                raw:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                  properties:
                    known: {type: string}
    - name: v1alpha1
      served: false
      storage: false
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, properties: {size: {type: integer, maximum: 10}}}
`

func TestCRD(t *testing.T) {
	sw := loadFragment(t)
	kinds, err := sw.CRDKinds([]byte(testCRD), "widgets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range kinds {
		names = append(names, k.GVK.FileName())
	}
	if want := []string{"widget-example-v1.json", "widget-example-v1alpha1.json"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	s := roundTrip(t, Finish(kinds[0], true))
	if s["additionalProperties"] != false || at(t, s, "properties", "spec")["additionalProperties"] != false {
		t.Error("strict CRD schema allows additional properties")
	}
	raw := at(t, s, "properties", "spec", "properties", "raw")
	if _, ok := raw["additionalProperties"]; ok {
		t.Error("x-kubernetes-preserve-unknown-fields object got additionalProperties")
	}
	// metadata: the built-in ObjectMeta, nulls as for the built-in types.
	labels := at(t, s, "properties", "metadata", "properties", "labels")
	if !reflect.DeepEqual(labels["additionalProperties"], object{"type": []any{"string", "null"}, "default": ""}) {
		t.Errorf("metadata.labels: %v", labels)
	}
	if _, ok := at(t, s, "properties", "metadata")[nullModeKey]; ok {
		t.Error("internal marker written")
	}
	spec := at(t, s, "properties", "spec", "properties")
	for _, c := range []struct {
		field string
		want  any
	}{
		{"mode", []any{"string", "null"}}, // optional: the API server prunes a null
		{"note", []any{"string", "null"}},
		{"tags", []any{"array", "null"}},
	} {
		if got := at(t, spec, c.field)["type"]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: type %v, want %v", c.field, got, c.want)
		}
	}
	if got := at(t, spec, "mode")["enum"]; !reflect.DeepEqual(got, []any{"Fast", "Slow", nil}) {
		t.Errorf("mode enum %v", got)
	}
	if got := at(t, spec, "tags", "items")["type"]; got != "string" {
		t.Errorf("tags items type %v: CRD array items take no null", got)
	}
	if got := at(t, spec, "size"); !reflect.DeepEqual(got["anyOf"], []any{object{"type": "integer"}, object{"type": "string"}}) {
		t.Errorf("size (required int-or-string): %v", got)
	}
	v1alpha1 := roundTrip(t, Finish(kinds[1], false))
	if got := at(t, v1alpha1, "properties", "spec", "properties", "size")["maximum"]; got != json.Number("10") {
		t.Errorf("maximum %v (%T)", got, got)
	}

	w := validator(t, s)
	base := `"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}`
	for _, c := range []struct {
		name, doc string
		ok        bool
	}{
		{"valid", `{` + base + `, "spec": {"size": "10%", "mode": "Fast", "raw": {"anything": 1}}}`, true},
		{"size int", `{` + base + `, "spec": {"size": 3}}`, true},
		{"missing size", `{` + base + `, "spec": {}}`, false},
		{"bad enum", `{` + base + `, "spec": {"size": 1, "mode": "Medium"}}`, false},
		{"unknown field", `{` + base + `, "spec": {"size": 1, "colour": "red"}}`, false},
		{"metadata typo", `{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "labelz": {}}, "spec": {"size": 1}}`, false},
		{"null tag", `{` + base + `, "spec": {"size": 1, "tags": [null]}}`, false},
	} {
		err := w.Validate(yamlish(t, c.doc))
		if (err == nil) != c.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestCRDErrors(t *testing.T) {
	sw := loadFragment(t)
	for name, doc := range map[string]string{
		"no CRD":    "apiVersion: v1\nkind: ConfigMap\n",
		"no schema": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: a.b}\nspec: {group: b, names: {kind: A}, versions: [{name: v1}]}\n",
		"bad YAML":  "a: [",
	} {
		if _, err := sw.CRDKinds([]byte(doc), name); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWriteAndRun(t *testing.T) {
	dir := t.TempDir()
	crd := filepath.Join(dir, "widgets.yaml")
	if err := os.WriteFile(crd, []byte(testCRD), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "schemas")
	var stdout bytes.Buffer
	if err := run([]string{"-swagger", "testdata/swagger-fragment.json", "-k8s-version", "1.37.2", "-out", out, "-crd", crd}, &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "12 kinds (10 built-in, 2 from CRDs), 24 files") {
		t.Errorf("stdout: %s", stdout.String())
	}
	for _, sub := range []string{"v1.37.2-standalone", "v1.37.2-standalone-strict"} {
		entries, err := os.ReadDir(filepath.Join(out, sub))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 12 {
			t.Errorf("%s: %d files", sub, len(entries))
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "v1.37.2-standalone-strict", "deployment-apps-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) || bytes.Count(b, []byte("\n")) != 1 {
		t.Errorf("not one line of JSON: %.200s", b)
	}

	// A CRD whose file name is a built-in's is refused.
	clash := filepath.Join(dir, "clash.yaml")
	doc := strings.NewReplacer("group: example.com", "group: apps.example.com", "kind: Widget", "kind: Deployment").Replace(testCRD)
	if err := os.WriteFile(clash, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run([]string{"-swagger", "testdata/swagger-fragment.json", "-k8s-version", "v1.37.2", "-out", out, "-crd", clash}, &stdout)
	if err == nil || !strings.Contains(err.Error(), "deployment-apps-v1.json: both") {
		t.Errorf("clash: %v", err)
	}
	if err := run([]string{"-swagger", "testdata/swagger-fragment.json"}, &stdout); err == nil {
		t.Error("missing flags accepted")
	}
}

// TestRealSwagger converts the real swagger.json of the k8s.io/kubernetes
// module when it is in the module cache (scripts/check-chart.sh downloads
// it; so does `go mod download k8s.io/kubernetes@v1.37.2`), else skips.
// K8SSCHEMAS_SWAGGER names another file.
func TestRealSwagger(t *testing.T) {
	path := os.Getenv("K8SSCHEMAS_SWAGGER")
	if path == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			t.Skipf("go env GOMODCACHE: %v", err)
		}
		matches, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "k8s.io", "kubernetes@v1.*", "api", "openapi-spec", "swagger.json"))
		if len(matches) == 0 {
			const msg = "no k8s.io/kubernetes module in the module cache (scripts/check-chart.sh downloads it)"
			if testtools.Required() {
				t.Fatal(msg + " [MCPGATE_E2E_REQUIRED=1]")
			}
			t.Skip(msg)
		}
		sort.Strings(matches)
		path = matches[len(matches)-1]
	}
	t.Logf("swagger: %s", path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := LoadSwagger(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := sw.Kinds()
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) < 250 {
		t.Errorf("only %d kinds", len(kinds))
	}
	byName := map[string]*Kind{}
	for _, k := range kinds {
		name := k.GVK.FileName()
		if byName[name] != nil {
			t.Errorf("%s twice", name)
		}
		byName[name] = k
		if kc := kubeconformFileName(k.GVK.Kind, k.GVK.APIVersion()); kc != name {
			t.Errorf("%s: kubeconform looks for %s", name, kc)
		}
	}
	for _, want := range []string{
		"deployment-apps-v1.json", "service-v1.json", "configmap-v1.json", "secret-v1.json",
		"serviceaccount-v1.json", "horizontalpodautoscaler-autoscaling-v2.json",
		"networkpolicy-networking-v1.json", "poddisruptionbudget-policy-v1.json",
		"ingress-networking-v1.json", "role-rbac-v1.json", "rolebinding-rbac-v1.json",
		"customresourcedefinition-apiextensions-v1.json",
	} {
		if byName[want] == nil {
			t.Errorf("no %s", want)
		}
	}
	// Every kind finishes; no $ref but local ones; a few spot checks.
	for name, k := range byName {
		s := Finish(k, true)
		walkAll(s, func(m object) {
			if r, ok := m["$ref"].(string); ok && !strings.HasPrefix(r, "#/$defs/") {
				t.Errorf("%s: $ref %s", name, r)
			}
		})
	}
	d := roundTrip(t, Finish(byName["deployment-apps-v1.json"], true))
	spec := at(t, d, "properties", "spec", "properties")
	if got := at(t, spec, "replicas")["type"]; !reflect.DeepEqual(got, []any{"integer", "null"}) {
		t.Errorf("replicas type %v", got)
	}
	if got := at(t, spec, "strategy", "properties", "rollingUpdate", "properties", "maxSurge")["oneOf"]; len(got.([]any)) != 3 {
		t.Errorf("maxSurge %v", got)
	}
	c := at(t, spec, "template", "properties", "spec", "properties", "containers", "items")
	if c["additionalProperties"] != false || at(t, c, "properties", "image") == nil {
		t.Errorf("container: additionalProperties %v", c["additionalProperties"])
	}
	dep := validator(t, d)
	if err := dep.Validate(yamlish(t, `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "two", "selector": {}, "template": {}}}`)); err == nil {
		t.Error(`replicas: "two" accepted`)
	}
	if err := dep.Validate(yamlish(t, `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": 1}}}]}}}}`)); err != nil {
		t.Errorf("valid Deployment: %v", err)
	}
	crd := Finish(byName["customresourcedefinition-apiextensions-v1.json"], true)
	if defs, _ := crd["$defs"].(object); len(defs) == 0 {
		t.Error("CustomResourceDefinition has no $defs for JSONSchemaProps")
	}
}

// walkSchemas calls f on every schema of the tree (not on the maps of
// property names, where a property may be named "properties").
func walkSchemas(v any, f func(object)) {
	m, ok := v.(object)
	if !ok {
		return
	}
	f(m)
	_, _ = mapSchemas(m, func(sub any) (any, error) {
		walkSchemas(sub, f)
		return sub, nil
	})
}

// walkAll calls f on every object of the tree.
func walkAll(v any, f func(object)) {
	switch t := v.(type) {
	case object:
		f(t)
		for _, vv := range t {
			walkAll(vv, f)
		}
	case []any:
		for _, vv := range t {
			walkAll(vv, f)
		}
	}
}
