package main

import (
	"bytes"
	"encoding/json"
)

// Finish returns the kind's schema for one flavour: null handling, int-or-
// string, and with strict, additionalProperties: false on every object
// schema that lists properties and says nothing of additionalProperties
// (except where x-kubernetes-preserve-unknown-fields is true). The Kind's
// tree is not modified.
func Finish(k *Kind, strict bool) object {
	f := finisher{strict: strict}
	out := f.schema(k.Tree, k.Mode, false).(object)
	out["$schema"] = schemaDialect
	return out
}

type finisher struct{ strict bool }

// schema finishes one node. optional says whether the node sits where a
// null can stand for "not set" (see nullMode).
func (f finisher) schema(v any, mode nullMode, optional bool) any {
	m, ok := v.(object)
	if !ok {
		return v // true/false schemas
	}
	if s, ok := m[nullModeKey].(string); ok {
		switch s {
		case "optional":
			mode = nullOptional
		case "crd":
			mode = nullCRD
		}
	}
	required := map[string]bool{}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	out := make(object, len(m)+1)
	for k, v := range m {
		switch k {
		case nullModeKey:
			continue
		case "properties":
			if props, ok := v.(object); ok {
				o := make(object, len(props))
				for name, sub := range props {
					o[name] = f.schema(sub, mode, !required[name])
				}
				out[k] = o
				continue
			}
		case "items", "additionalProperties":
			// openapi2jsonschema makes array items and map values nullable.
			child := mode == nullOptional
			switch vv := v.(type) {
			case object:
				out[k] = f.schema(vv, mode, child)
				continue
			case []any:
				out[k] = f.list(vv, mode, child)
				continue
			}
		case "patternProperties", "definitions", "$defs", "dependentSchemas":
			if mm, ok := v.(object); ok {
				o := make(object, len(mm))
				for name, sub := range mm {
					o[name] = f.schema(sub, mode, mode == nullOptional)
				}
				out[k] = o
				continue
			}
		case "additionalItems", "not", "contains", "propertyNames", "if", "then", "else",
			"unevaluatedProperties", "unevaluatedItems":
			if vv, ok := v.(object); ok {
				out[k] = f.schema(vv, mode, false)
				continue
			}
		case "allOf", "anyOf", "oneOf", "prefixItems":
			if vv, ok := v.([]any); ok {
				out[k] = f.list(vv, mode, false)
				continue
			}
		}
		out[k] = v // data: shared with the Kind's tree, never modified
	}
	intOrString(out)
	// In nullCRD mode optional is only ever true for properties.
	if optional || m["nullable"] == true {
		// An enum gets null as a value where a CRD's null is meant (see
		// nullCRD); openapi2jsonschema leaves the enums (apiVersion, kind)
		// of built-in types as they are.
		allowNull(out, mode == nullCRD || m["nullable"] == true)
	}
	if f.strict {
		if _, has := out["properties"]; has {
			_, set := out["additionalProperties"]
			if !set && out["x-kubernetes-preserve-unknown-fields"] != true {
				out["additionalProperties"] = false
			}
		}
	}
	return out
}

func (f finisher) list(l []any, mode nullMode, optional bool) []any {
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = f.schema(v, mode, optional)
	}
	return out
}

// intOrString replaces "format: int-or-string" by a oneOf of string and
// integer, and gives an x-kubernetes-int-or-string node that says nothing
// of its type the same oneOf.
func intOrString(m object) {
	oneOf := func() []any { return []any{object{"type": "string"}, object{"type": "integer"}} }
	if m["format"] == "int-or-string" {
		delete(m, "format")
		delete(m, "type")
		if _, ok := m["oneOf"]; !ok {
			if _, ok := m["anyOf"]; !ok {
				m["oneOf"] = oneOf()
			}
		}
		return
	}
	if m["x-kubernetes-int-or-string"] == true {
		_, t := m["type"]
		_, o := m["oneOf"]
		_, a := m["anyOf"]
		if !t && !o && !a {
			m["oneOf"] = oneOf()
		}
	}
}

// allowNull makes a finished node accept null: [type, "null"] as
// openapi2jsonschema writes it; a node without a type but with a oneOf or
// anyOf (int-or-string, Quantity) gets a {"type": "null"} branch (where
// openapi2jsonschema makes every branch nullable, which makes a oneOf
// reject null: two branches match); with enumNull, an enum gets null as a
// value.
func allowNull(m object, enumNull bool) {
	switch t := m["type"].(type) {
	case string:
		if t != "null" {
			m["type"] = []any{t, "null"}
		}
	case []any:
		if !containsValue(t, "null") {
			m["type"] = append(append([]any{}, t...), "null")
		}
	case nil:
		for _, k := range []string{"oneOf", "anyOf"} {
			if l, ok := m[k].([]any); ok && !branchAllowsNull(l) {
				m[k] = append(append([]any{}, l...), object{"type": "null"})
			}
		}
	}
	if e, ok := m["enum"].([]any); ok && enumNull && !containsValue(e, nil) {
		m["enum"] = append(append([]any{}, e...), nil)
	}
}

func branchAllowsNull(l []any) bool {
	for _, b := range l {
		bm, ok := b.(object)
		if !ok {
			continue
		}
		switch t := bm["type"].(type) {
		case string:
			if t == "null" {
				return true
			}
		case []any:
			if containsValue(t, "null") {
				return true
			}
		}
	}
	return false
}

func containsValue(l []any, v any) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// Marshal encodes a finished schema: compact unless indent, keys sorted
// (encoding/json sorts map keys), no HTML escaping, newline-terminated.
func Marshal(s object, indent bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
