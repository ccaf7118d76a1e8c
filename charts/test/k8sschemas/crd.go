package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// crd is the part of a CustomResourceDefinition (apiextensions.k8s.io/v1)
// the conversion reads.
type crd struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Schema *struct {
				OpenAPIV3Schema object `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// CRDKinds converts the CustomResourceDefinitions of a YAML stream (other
// documents are ignored): one Kind per version that has an
// openAPIV3Schema, named like the built-in kinds (httproute-gateway-v1.json,
// servicemonitor-monitoring-v1.json), as kubeconform's own
// openapi2jsonschema.py names them with FILENAME_FORMAT
// {kind}-{group}-{version}.
//
// The CRD's schema is used as it is, with these changes: apiVersion and
// kind are pinned; a metadata that is a bare "type: object" (CRDs may not
// constrain metadata) is replaced by the built-in ObjectMeta from s, so
// that -strict catches a misspelt metadata field of a custom resource as it
// does of a Deployment; null handling is nullCRD's. s may be nil: metadata
// is then left as the CRD has it.
func (s *Swagger) CRDKinds(data []byte, source string) ([]*Kind, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var kinds []*Kind
	for i := 0; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: YAML document %d: %w", source, i, err)
		}
		if doc == nil {
			continue
		}
		// Through JSON: the schema tree then holds only JSON types, and
		// numbers stay json.Number.
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: YAML document %d: %w", source, i, err)
		}
		var c crd
		if err := decodeJSON(bytes.NewReader(b), &c); err != nil {
			return nil, fmt.Errorf("%s: YAML document %d: %w", source, i, err)
		}
		if c.Kind != "CustomResourceDefinition" {
			continue
		}
		if c.APIVersion != "apiextensions.k8s.io/v1" {
			return nil, fmt.Errorf("%s: CRD %s is %s, want apiextensions.k8s.io/v1", source, c.Metadata.Name, c.APIVersion)
		}
		if c.Spec.Group == "" || c.Spec.Names.Kind == "" {
			return nil, fmt.Errorf("%s: CRD %s has no spec.group or spec.names.kind", source, c.Metadata.Name)
		}
		n := 0
		for _, v := range c.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			g := GVK{Group: c.Spec.Group, Version: v.Name, Kind: c.Spec.Names.Kind}
			tree := v.Schema.OpenAPIV3Schema
			if err := s.crdMetadata(tree); err != nil {
				return nil, fmt.Errorf("%s: CRD %s: %w", source, c.Metadata.Name, err)
			}
			setKindEnums(tree, g)
			kinds = append(kinds, &Kind{GVK: g, Source: source + ": " + c.Metadata.Name, Tree: tree, Mode: nullCRD})
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: CRD %s has no version with an openAPIV3Schema", source, c.Metadata.Name)
		}
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("%s: no CustomResourceDefinition found", source)
	}
	return kinds, nil
}

func (s *Swagger) crdMetadata(tree object) error {
	if s == nil {
		return nil
	}
	props, _ := tree["properties"].(object)
	md, ok := props["metadata"].(object)
	if !ok {
		return nil
	}
	if _, has := md["properties"]; has {
		return nil // the CRD constrains metadata itself: keep it
	}
	if t, ok := md["type"]; ok && t != "object" {
		return nil
	}
	om, err := s.expandDefinition(objectMetaDef)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	om[nullModeKey] = "optional"
	props["metadata"] = om
	return nil
}
