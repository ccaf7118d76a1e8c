package charttest

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/config"
)

// TestRenderedConfigIsAccepted parses the rendered mcpgate.yaml with the
// gateway's own strict loader: every key the chart writes must be a key of
// the configuration file, with the right type. Problems about files and
// environment variables that only exist in the pod are expected here.
func TestRenderedConfigIsAccepted(t *testing.T) {
	cases := ciValuesFiles(t)
	cases["minimal"] = minimal
	cases["defaults"] = ""
	cases["large numbers"] = strings.Replace(minimal, "  auth:\n", "  auth:\n    token_cache_size: 2000000\n", 1) +
		"  policy: {decision_log_buffer: 1000000}\n  max_request_bytes: 16777216\n"
	cases["scope catalogue"] = minimal + "  scopes:\n    - {name: 'notes:read', description: Read your notes, server: notes, level: read}\n    - {name: mcp, server: '*'}\n"
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			src := mustRender(t, values).configMap(t, fullname).Data["mcpgate.yaml"]
			cfg, err := config.Parse([]byte(src), "mcpgate.yaml")
			var ve *config.ValidationError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("config does not parse: %v\n%s", err, src)
			}
			var unexpected []string
			if ve != nil {
				for _, p := range ve.Problems {
					if podOnly(p) || (name == "defaults" && p.Path == "servers") {
						continue
					}
					unexpected = append(unexpected, p.String())
				}
			}
			if len(unexpected) > 0 {
				t.Fatalf("the gateway refuses the rendered config:\n  %s\n%s", strings.Join(unexpected, "\n  "), src)
			}
			if lib := lookup(t, mustRender(t, values).gatewayConfig(t), "policy", "library"); lib != config.PolicyLibraryBuiltin && lib != config.PolicyLibraryNone {
				t.Errorf("policy.library = %v, want the chart to set builtin or none", lib)
			}
			if cfg == nil || name == "defaults" {
				return
			}
			if err := errors.Join(cfg.RequireAuth(), cfg.RequirePolicy(), cfg.RequireStore()); err != nil {
				t.Errorf("mcpgate serve would refuse: %v", err)
			}
			if name == "scope catalogue" && len(cfg.Scopes) != 2 {
				t.Errorf("scopes = %+v, want the two of the values", cfg.Scopes)
			}
		})
	}
}

// podOnly reports problems that come from files or variables that exist
// only in the pod: secrets, the session keys, the OPA configuration.
func podOnly(p config.Problem) bool {
	return p.Path == "session_key_file" || p.Path == "policy.opa_config_file" ||
		strings.Contains(p.Message, "cannot read") || strings.Contains(p.Message, "environment variable")
}

// TestConfigSchemaMatchesGateway compares the config subtree of
// values.schema.json with the gateway's configuration type, key by key and
// type by type: a key added to the gateway must be added to the chart.
func TestConfigSchemaMatchesGateway(t *testing.T) {
	schema := loadSchema(t)
	compareSchema(t, "config", lookup(t, schema, "properties", "config").(map[string]any), reflect.TypeFor[config.Config]())
}

func compareSchema(t *testing.T, path string, s map[string]any, typ reflect.Type) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	types := schemaTypes(s)
	want := map[reflect.Kind]string{
		reflect.Struct: "object", reflect.Map: "object", reflect.Slice: "array",
		reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer",
	}[typ.Kind()]
	switch typ {
	case reflect.TypeFor[config.ByteSize]():
		want = "string" // and integer
	case reflect.TypeFor[config.Duration]():
		want = "string"
	}
	if !slices.Contains(types, want) {
		t.Errorf("values.schema.json %s: type %v, the gateway's %s is %s", path, types, typ, want)
		return
	}
	switch typ.Kind() {
	case reflect.Slice:
		items, ok := s["items"].(map[string]any)
		if !ok {
			t.Errorf("values.schema.json %s: no items schema", path)
			return
		}
		compareSchema(t, path+"[]", items, typ.Elem())
	case reflect.Struct:
		props, _ := s["properties"].(map[string]any)
		if s["additionalProperties"] != false {
			t.Errorf("values.schema.json %s: additionalProperties is not false; typos would pass", path)
		}
		fields := map[string]reflect.Type{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f.Type
			p, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("values.schema.json %s has no %q: the gateway's configuration has it (%s.%s)", path, name, typ, f.Name)
				continue
			}
			if p["description"] == nil {
				t.Errorf("values.schema.json %s.%s has no description", path, name)
			}
			compareSchema(t, path+"."+name, p, f.Type)
		}
		for name := range props {
			if _, ok := fields[name]; !ok {
				t.Errorf("values.schema.json %s.%s is not a key of the gateway's configuration", path, name)
			}
		}
	}
}

func schemaTypes(s map[string]any) []string {
	switch v := s["type"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	var schema map[string]any
	if err := json.Unmarshal([]byte(readFile(t, chartDir+"/values.schema.json")), &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	return schema
}

// The chart seals sessions, which needs a store: by default a file on the
// pod's writable state volume; a PostgreSQL store from config is kept, and
// NOTES warns when several replicas would each have their own file.
func TestStore(t *testing.T) {
	r := mustRender(t, minimal)
	if kind, path := lookup(t, r.gatewayConfig(t), "store", "kind"), lookup(t, r.gatewayConfig(t), "store", "path"); kind != "file" || path != "/var/lib/mcpgate/store.db" {
		t.Errorf("store = %v %v, want a file at /var/lib/mcpgate/store.db", kind, path)
	}
	m, v := mount(t, r.deployment(t), "/var/lib/mcpgate")
	if m.ReadOnly || v.EmptyDir == nil {
		t.Errorf("the store's directory is mounted read-only %v from %+v, want a writable emptyDir", m.ReadOnly, v.VolumeSource)
	}
	const warning = "config.store is a file in each pod"
	if notes := r.files["templates/NOTES.txt"]; strings.Contains(notes, warning) {
		t.Errorf("NOTES warns about a file store with one replica:\n%s", notes)
	}
	several := minimal + "replicaCount: 3\n"
	wantContains(t, "NOTES with 3 replicas and a file store", mustRender(t, several).files["templates/NOTES.txt"], warning)
	pg := strings.Replace(several, "  auth:\n", "  store: {kind: postgres, dsn_from_env: MCPGATE_STORE_DSN}\n  auth:\n", 1)
	r = mustRender(t, pg)
	if kind, path := lookup(t, r.gatewayConfig(t), "store", "kind"), r.gatewayConfig(t)["store"].(map[string]any)["path"]; kind != "postgres" || path != nil {
		t.Errorf("store = %v %v, want the configured PostgreSQL store kept", kind, path)
	}
	if strings.Contains(r.files["templates/NOTES.txt"], warning) {
		t.Error("NOTES warns about a file store with a PostgreSQL store")
	}
}
