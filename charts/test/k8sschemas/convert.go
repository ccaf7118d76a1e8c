package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// object is a JSON object of the schema tree.
type object = map[string]any

// Names of definitions the conversion treats specially (as openapi2jsonschema
// does with --kubernetes).
const (
	intOrStringDef = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	quantityDef    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	objectMetaDef  = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)

// schemaDialect is the "$schema" of every file, as in yannh's
// kubernetes-json-schema. kubeconform's validator (santhosh-tekuri/jsonschema)
// maps it to its latest draft, 2020-12, under which "format" is an
// annotation, not an assertion: the files validate exactly as yannh's do.
const schemaDialect = "http://json-schema.org/schema#"

// overrides replace a definition wherever it is referenced.
func overrides(name string) (object, bool) {
	switch name {
	case intOrStringDef:
		return object{"oneOf": []any{object{"type": "string"}, object{"type": "integer"}}}, true
	case quantityDef:
		// The API takes a string; most tooling, and openapi2jsonschema,
		// accept a number too ("cpu: 1").
		return object{"oneOf": []any{object{"type": "string"}, object{"type": "number"}}}, true
	}
	return nil, false
}

// GVK is a Kubernetes group, version and kind.
type GVK struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// APIVersion is the apiVersion field of a resource of this GVK.
func (g GVK) APIVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

// FileName is the file kubeconform looks up for a resource of this GVK:
// "{{ .ResourceKind }}{{ .KindSuffix }}.json" in kubeconform's
// pkg/registry.schemaPath, i.e. the lower-case kind, then "-" and the first
// dot-separated label of the group (none for the core group), then "-" and
// the version: deployment-apps-v1.json, service-v1.json,
// networkpolicy-networking-v1.json, httproute-gateway-v1.json.
func (g GVK) FileName() string {
	name := strings.ToLower(g.Kind)
	if g.Group != "" {
		name += "-" + strings.ToLower(strings.Split(g.Group, ".")[0])
	}
	return name + "-" + strings.ToLower(g.Version) + ".json"
}

// nullMode says which schema nodes accept null.
type nullMode int

const (
	// nullOptional mimics openapi2jsonschema --kubernetes on the built-in
	// types: every "type" becomes [type, "null"] except at the root and on
	// properties listed in their object's "required"; array items and map
	// values included.
	nullOptional nullMode = iota
	// nullCRD is for CRD schemas: null is accepted where the schema says
	// "nullable: true", and on properties that are not required (the API
	// server prunes such nulls before validation); never on array items
	// or map values without "nullable: true".
	nullCRD
)

// nullModeKey marks a subtree whose null handling differs from its
// parent's (the ObjectMeta inlined into CRD schemas); finish removes it.
const nullModeKey = "x-k8sschemas-null-mode"

// Kind is the schema of one resource kind, its $refs inlined, not yet
// finished for a flavour.
type Kind struct {
	GVK    GVK
	Source string // definition name, or CRD file and name
	Tree   object
	Mode   nullMode
}

// Swagger is the part of the Kubernetes OpenAPI v2 spec the conversion uses.
type Swagger struct {
	Definitions map[string]any `json:"definitions"`
}

// decodeJSON decodes keeping numbers as json.Number, so integers
// (minimum, maximum, defaults) are written back exactly.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec.Decode(v)
}

// LoadSwagger reads a swagger.json.
func LoadSwagger(r io.Reader) (*Swagger, error) {
	var s struct {
		Swagger     string         `json:"swagger"`
		Definitions map[string]any `json:"definitions"`
	}
	if err := decodeJSON(r, &s); err != nil {
		return nil, fmt.Errorf("decoding swagger: %w", err)
	}
	if !strings.HasPrefix(s.Swagger, "2.") {
		return nil, fmt.Errorf("not an OpenAPI v2 (swagger 2.x) document: swagger=%q", s.Swagger)
	}
	if len(s.Definitions) == 0 {
		return nil, fmt.Errorf("swagger has no definitions")
	}
	return &Swagger{Definitions: s.Definitions}, nil
}

// Kinds returns one Kind per entry of every definition's
// x-kubernetes-group-version-kind, sorted by file name. Definitions without
// it are not resources kubeconform can look up and get no file.
func (s *Swagger) Kinds() ([]*Kind, error) {
	names := make([]string, 0, len(s.Definitions))
	for name := range s.Definitions {
		names = append(names, name)
	}
	sort.Strings(names)
	var kinds []*Kind
	for _, name := range names {
		def, ok := s.Definitions[name].(object)
		if !ok {
			return nil, fmt.Errorf("definition %s is not an object", name)
		}
		gvks, err := groupVersionKinds(def)
		if err != nil {
			return nil, fmt.Errorf("definition %s: %w", name, err)
		}
		if len(gvks) == 0 {
			continue
		}
		tree, err := s.expandDefinition(name)
		if err != nil {
			return nil, fmt.Errorf("definition %s: %w", name, err)
		}
		for _, g := range gvks {
			t := tree
			if len(gvks) > 1 {
				t = deepCopy(tree).(object)
			}
			setKindEnums(t, g)
			kinds = append(kinds, &Kind{GVK: g, Source: name, Tree: t, Mode: nullOptional})
		}
	}
	sort.SliceStable(kinds, func(i, j int) bool { return kinds[i].GVK.FileName() < kinds[j].GVK.FileName() })
	return kinds, nil
}

func groupVersionKinds(def object) ([]GVK, error) {
	raw, ok := def["x-kubernetes-group-version-kind"]
	if !ok {
		return nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var gvks []GVK
	if err := json.Unmarshal(b, &gvks); err != nil {
		return nil, fmt.Errorf("x-kubernetes-group-version-kind: %w", err)
	}
	for _, g := range gvks {
		if g.Kind == "" || g.Version == "" {
			return nil, fmt.Errorf("x-kubernetes-group-version-kind entry without kind or version: %+v", g)
		}
	}
	return gvks, nil
}

// setKindEnums pins apiVersion and kind, as openapi2jsonschema --expanded
// does, and defaults the root's type to object.
func setKindEnums(tree object, g GVK) {
	if _, ok := tree["type"]; !ok {
		tree["type"] = "object"
	}
	props, _ := tree["properties"].(object)
	if p, ok := props["apiVersion"].(object); ok {
		p["enum"] = []any{g.APIVersion()}
	}
	if p, ok := props["kind"].(object); ok {
		p["enum"] = []any{g.Kind}
	}
}

// expandDefinition returns the definition with every $ref inlined. A $ref
// to a definition that is being expanded already (a cycle: JSONSchemaProps
// in CustomResourceDefinition) cannot be inlined: it becomes a local
// "#/$defs/<name>" reference, and the definition is put under the root's
// $defs (itself expanded the same way), so the file still stands alone.
func (s *Swagger) expandDefinition(name string) (object, error) {
	e := &expander{defs: s.Definitions, onStack: map[string]bool{}, recursive: map[string]bool{}}
	root, err := e.ref(name)
	if err != nil {
		return nil, err
	}
	tree, ok := root.(object)
	if !ok {
		return nil, fmt.Errorf("expanded to a %T", root)
	}
	defs := object{}
	for {
		var todo []string
		for n := range e.recursive {
			if _, done := defs[n]; !done {
				todo = append(todo, n)
			}
		}
		if len(todo) == 0 {
			break
		}
		sort.Strings(todo)
		for _, n := range todo {
			e.onStack = map[string]bool{}
			d, err := e.ref(n)
			if err != nil {
				return nil, err
			}
			defs[n] = d
		}
	}
	if len(defs) > 0 {
		tree["$defs"] = defs
	}
	return tree, nil
}

type expander struct {
	defs      map[string]any
	onStack   map[string]bool
	recursive map[string]bool
}

func (e *expander) ref(name string) (any, error) {
	if o, ok := overrides(name); ok {
		return o, nil
	}
	if e.onStack[name] {
		e.recursive[name] = true
		return object{"$ref": "#/$defs/" + name}, nil
	}
	def, ok := e.defs[name]
	if !ok {
		return nil, fmt.Errorf("$ref to unknown definition %q", name)
	}
	e.onStack[name] = true
	defer delete(e.onStack, name)
	return e.schema(def)
}

// schema copies a schema node, inlining $refs. Keys next to a $ref
// (description, default) are dropped, as JSON reference resolution (and
// so openapi2jsonschema's output) does: the referenced definition's own
// description is kept instead.
func (e *expander) schema(v any) (any, error) {
	m, ok := v.(object)
	if !ok {
		return deepCopy(v), nil
	}
	if r, ok := m["$ref"].(string); ok {
		name, ok := strings.CutPrefix(r, "#/definitions/")
		if !ok {
			return nil, fmt.Errorf("unsupported $ref %q", r)
		}
		return e.ref(name)
	}
	return mapSchemas(m, e.schema)
}

// mapSchemas copies a schema node, applying f to every subschema (the
// values of the keywords that hold schemas) and deep-copying the rest
// (enum, default, examples, x- extensions stay data).
func mapSchemas(m object, f func(any) (any, error)) (object, error) {
	out := make(object, len(m))
	for k, v := range m {
		var err error
		switch k {
		case "properties", "patternProperties", "definitions", "$defs", "dependentSchemas":
			if mm, ok := v.(object); ok {
				o := make(object, len(mm))
				for name, sub := range mm {
					if o[name], err = f(sub); err != nil {
						return nil, fmt.Errorf("%s.%s: %w", k, name, err)
					}
				}
				out[k] = o
				continue
			}
		case "items", "additionalProperties", "additionalItems", "not", "contains",
			"propertyNames", "if", "then", "else", "unevaluatedProperties", "unevaluatedItems":
			switch vv := v.(type) {
			case object:
				if out[k], err = f(vv); err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				continue
			case []any: // items as an array (tuple)
				if out[k], err = mapList(vv, f); err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				continue
			}
		case "allOf", "anyOf", "oneOf", "prefixItems":
			if vv, ok := v.([]any); ok {
				if out[k], err = mapList(vv, f); err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				continue
			}
		}
		out[k] = deepCopy(v)
	}
	return out, nil
}

func mapList(l []any, f func(any) (any, error)) ([]any, error) {
	out := make([]any, len(l))
	for i, v := range l {
		var err error
		if out[i], err = f(v); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return out, nil
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case object:
		out := make(object, len(t))
		for k, vv := range t {
			out[k] = deepCopy(vv)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, vv := range t {
			out[i] = deepCopy(vv)
		}
		return out
	default:
		return v
	}
}

func shallowCopy(m object) object {
	out := make(object, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
