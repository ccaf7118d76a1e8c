// Command k8sschemas converts the Kubernetes OpenAPI v2 spec
// (api/openapi-spec/swagger.json of the k8s.io/kubernetes module) and,
// optionally, CustomResourceDefinition YAML files into the JSON schemas
// kubeconform reads offline, in the layout of yannh/kubernetes-json-schema
// (as openapi2jsonschema --kubernetes --expanded --stand-alone [--strict]
// writes it):
//
//	OUT/v<version>-standalone/<kind>[-<group>]-<version>.json
//	OUT/v<version>-standalone-strict/<kind>[-<group>]-<version>.json
//
// for kubeconform's
//
//	-schema-location 'OUT/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json'
//
// One file is written per resource kind (per entry of a definition's
// x-kubernetes-group-version-kind, per version of a CRD); the other
// definitions are inlined where they are used, every $ref resolved, so each
// file stands alone. What the conversion does, as openapi2jsonschema does:
//
//   - IntOrString becomes oneOf string/integer, Quantity oneOf
//     string/number; "format: int-or-string" anywhere becomes the same oneOf;
//   - apiVersion and kind are pinned with an enum;
//   - a "type" T becomes [T, "null"] except at the root and on required
//     properties (array items and map values included); an int-or-string or
//     Quantity gets a {"type": "null"} branch instead (openapi2jsonschema
//     makes both branches nullable, and then its oneOf rejects null);
//   - strict files: additionalProperties: false on every object schema that
//     lists properties and says nothing of additionalProperties;
//   - "$schema": "http://json-schema.org/schema#", as in yannh's files.
//
// Where it differs: only resource kinds get a file (kubeconform looks up no
// other name); the recursive JSONSchemaProps of CustomResourceDefinition is
// kept under the file's own "$defs" with local "#/$defs/..." references
// instead of being skipped (openapi2jsonschema skips CRD kinds in
// stand-alone mode). CRDs given with -crd are converted per version (see
// CRDKinds). A name given by two sources is an error.
//
// Usage:
//
//	go run ./k8sschemas -swagger swagger.json -k8s-version 1.37.2 -out DIR [-crd crd.yaml]... [-indent]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschemas:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("k8sschemas", flag.ContinueOnError)
	swaggerPath := fs.String("swagger", "", "path of the Kubernetes swagger.json (OpenAPI v2)")
	version := fs.String("k8s-version", "", "Kubernetes version the swagger is of, e.g. 1.37.2 (names the output directories v<version>-standalone[-strict])")
	out := fs.String("out", "", "output directory")
	indent := fs.Bool("indent", false, "indent the JSON files (default compact)")
	var crds listFlag
	fs.Var(&crds, "crd", "CustomResourceDefinition YAML file to convert too (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *swaggerPath == "" || *version == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("-swagger, -k8s-version and -out are required, and no other argument")
	}
	start := time.Now()
	f, err := os.Open(*swaggerPath)
	if err != nil {
		return err
	}
	sw, err := LoadSwagger(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *swaggerPath, err)
	}
	kinds, err := sw.Kinds()
	if err != nil {
		return fmt.Errorf("%s: %w", *swaggerPath, err)
	}
	builtin := len(kinds)
	for _, path := range crds {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ck, err := sw.CRDKinds(data, path)
		if err != nil {
			return err
		}
		kinds = append(kinds, ck...)
	}
	n, bytes, err := Write(*out, *version, kinds, *indent)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "k8sschemas: %d kinds (%d built-in, %d from CRDs), %d files, %.1f MiB in %s/v%s-standalone{,-strict} in %.1fs\n",
		len(kinds), builtin, len(kinds)-builtin, n, float64(bytes)/(1<<20), *out, strings.TrimPrefix(*version, "v"), time.Since(start).Seconds())
	return nil
}

// Flavours are the directories written, by suffix, and whether strict.
var Flavours = []struct {
	Suffix string
	Strict bool
}{{"-standalone", false}, {"-standalone-strict", true}}

// Write writes every kind in both flavours under out/v<version><suffix>/
// and returns the number of files and bytes written. Two kinds with the
// same file name are an error.
func Write(out, version string, kinds []*Kind, indent bool) (files int, size int64, err error) {
	seen := map[string]string{}
	for _, k := range kinds {
		name := k.GVK.FileName()
		if prev, dup := seen[name]; dup {
			return 0, 0, fmt.Errorf("%s: both %s and %s (%s)", name, prev, k.Source, k.GVK.APIVersion())
		}
		seen[name] = k.Source
	}
	version = "v" + strings.TrimPrefix(version, "v")
	for _, fl := range Flavours {
		dir := filepath.Join(out, version+fl.Suffix)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, 0, err
		}
		for _, k := range kinds {
			b, err := Marshal(Finish(k, fl.Strict), indent)
			if err != nil {
				return 0, 0, fmt.Errorf("%s: %w", k.GVK.FileName(), err)
			}
			if err := os.WriteFile(filepath.Join(dir, k.GVK.FileName()), b, 0o644); err != nil {
				return 0, 0, err
			}
			files++
			size += int64(len(b))
		}
	}
	return files, size, nil
}
