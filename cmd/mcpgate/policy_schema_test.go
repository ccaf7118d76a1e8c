package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/mcpgate/mcpgate/policy"
)

const (
	inputSchemaFile = "../../docs/policy-input.schema.json"
	exampleInputs   = "testdata/policy-inputs/*.json"
)

func loadInputSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := os.ReadFile(inputSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", inputSchemaFile, err)
	}
	return &s
}

func resolveInputSchema(t *testing.T) *jsonschema.Resolved {
	t.Helper()
	rs, err := loadInputSchema(t).Resolve(nil)
	if err != nil {
		t.Fatalf("resolve %s: %v", inputSchemaFile, err)
	}
	return rs
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestExampleInputsMatchSchema validates the inputs shipped for
// `mcpgate policy eval` and the docs: at least one per phase.
func TestExampleInputsMatchSchema(t *testing.T) {
	t.Parallel()
	rs := resolveInputSchema(t)
	files, err := filepath.Glob(exampleInputs)
	if err != nil {
		t.Fatal(err)
	}
	phases := map[string]bool{}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		in := decodeJSON(t, b)
		if err := rs.Validate(in); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// The Go type must read it too, without unknown fields.
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		var typed policy.Input
		if err := dec.Decode(&typed); err != nil {
			t.Errorf("%s: decode as policy.Input: %v", name, err)
		}
		phases[typed.Phase] = true
	}
	for _, p := range []string{policy.PhaseInitialize, policy.PhaseList, policy.PhaseCall, policy.PhaseGrant, policy.PhaseRegister, policy.PhaseUpstream} {
		if !phases[p] {
			t.Errorf("no example input in %s for phase %q", exampleInputs, p)
		}
	}
}

// TestGoInputMatchesSchema validates inputs as the gateway encodes them,
// nil lists and maps (JSON null) included.
func TestGoInputMatchesSchema(t *testing.T) {
	t.Parallel()
	rs := resolveInputSchema(t)
	yes := true
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := map[string]policy.Input{
		"identity with nil lists": {
			Phase: policy.PhaseInitialize, Method: "initialize",
			User: policy.User{Sub: "a"}, Token: policy.Token{ClientID: "c"},
			Request: policy.Request{Time: at},
		},
		"call with everything": {
			Phase: policy.PhaseCall, Method: "tools/call",
			User:   policy.User{Sub: "a", Iss: "i", Email: "a@x", Name: "A", Groups: []string{"g"}, Claims: map[string]any{"k": 1}},
			Token:  policy.Token{Scopes: []string{"s"}, ClientID: "c", Aud: []string{"m"}},
			Client: &policy.Client{Name: "cc", Version: "1"},
			Server: &policy.Server{Name: "notes", Labels: map[string]string{"env": "prod"}},
			Tool: &policy.Tool{Name: "notes__read_note", UpstreamName: "read_note", Server: "notes", Description: "d",
				Annotations: &policy.Annotations{ReadOnlyHint: &yes, Title: "t"}},
			Arguments: map[string]any{"id": "x"},
			Request: policy.Request{SessionID: "s", ProtocolVersion: "2025-11-25", RemoteAddr: "127.0.0.1:1",
				Time: time.Date(2026, 3, 2, 10, 0, 0, 123, time.FixedZone("", 3600))},
		},
		"list of a template": {
			Phase: policy.PhaseList, Method: "resources/templates/list",
			User: policy.User{Groups: []string{}}, Token: policy.Token{Scopes: []string{}},
			Server:   &policy.Server{Name: "notes"},
			Resource: &policy.Resource{URITemplate: "notes://note/{id}", Server: "notes"},
			Request:  policy.Request{Time: time.Now()},
		},
		"call with a catalogue": {
			Phase: policy.PhaseCall, Method: "prompts/get",
			User: policy.User{Sub: "a"}, Token: policy.Token{Scopes: []string{"notes:read"}},
			Server:    &policy.Server{Name: "notes"},
			Prompt:    &policy.Prompt{Name: "notes__p", UpstreamName: "p", Server: "notes"},
			Catalogue: []policy.Scope{{Name: "notes:read", Server: "notes", Level: "read"}, {Name: "mcp", Description: "d", Server: "*", Level: "all"}},
			Request:   policy.Request{Time: at},
		},
		"console page": {
			Phase: policy.PhaseConsole, Method: policy.MethodConsoleServers,
			User:    policy.User{Sub: "carol", Groups: []string{"admin"}, Claims: map[string]any{}},
			Request: policy.Request{Time: at},
		},
		"console revoke": {
			Phase: policy.PhaseConsole, Method: policy.MethodConsoleRevoke,
			User:     policy.User{Sub: "carol", Groups: []string{"admin"}},
			Server:   &policy.Server{Name: "calendar"},
			Employee: &policy.Employee{Sub: "alice"},
			Request:  policy.Request{Time: at},
		},
		"grant": {
			Phase: policy.PhaseGrant, Method: policy.MethodToken,
			User:      policy.User{Sub: "a", Iss: "i", Groups: []string{"g"}},
			Client:    &policy.Client{ID: "c-1", Name: "Claude"},
			Catalogue: []policy.Scope{{Name: "notes:read", Server: "notes", Level: "read"}},
			Grant:     &policy.Grant{Requested: []string{"notes:read"}, Current: []string{"notes:read"}, Reason: policy.GrantRefresh},
			Request:   policy.Request{RemoteAddr: "192.0.2.1", Time: at},
		},
		"grant without catalogue, nil lists": {
			Phase: policy.PhaseGrant, Method: policy.MethodAuthorize,
			User: policy.User{Sub: "a"}, Client: &policy.Client{ID: "c-1"},
			Grant: &policy.Grant{Reason: policy.GrantAuthorize}, Request: policy.Request{Time: at},
		},
		"upstream credential for a call": {
			Phase: policy.PhaseUpstream, Method: policy.MethodUpstreamToken,
			User:           policy.User{Sub: "a", Iss: "i", Groups: []string{"g"}},
			Token:          policy.Token{Scopes: []string{"notes:write"}, Aud: []string{"m"}},
			Client:         &policy.Client{Name: "cc"},
			Server:         &policy.Server{Name: "notes", Labels: map[string]string{"env": "prod"}},
			Tool:           &policy.Tool{Name: "notes__write_note", UpstreamName: "write_note", Server: "notes"},
			UpstreamScopes: []policy.UpstreamScope{{Name: "notes.read", Description: "d", Level: "read"}, {Name: "notes.write", Level: "write"}},
			Request:        policy.Request{SessionID: "s", Time: at},
		},
		"upstream connect, nil lists": {
			Phase: policy.PhaseUpstream, Method: policy.MethodUpstreamConnect,
			User: policy.User{Sub: "a"}, Server: &policy.Server{Name: "notes"}, Request: policy.Request{Time: at},
		},
		"dynamic registration": {
			Phase: policy.PhaseRegister, Method: policy.MethodRegister,
			Registration: &policy.Registration{Method: policy.RegistrationDynamic, ClientName: "App",
				RedirectURIs: []string{"http://127.0.0.1:9/cb"}, RedirectHosts: []string{"127.0.0.1"}},
			Request: policy.Request{RemoteAddr: "192.0.2.1", Time: at},
		},
		"metadata document registration": {
			Phase: policy.PhaseRegister, Method: policy.MethodRegister,
			Client: &policy.Client{ID: "https://app.example/c.json", Name: "App"},
			Registration: &policy.Registration{Method: policy.RegistrationMetadataDocument, ClientID: "https://app.example/c.json",
				ClientName: "App", ClientURI: "https://app.example", RedirectURIs: []string{"https://app.example/cb"},
				RedirectHosts: []string{"app.example"}, GrantTypes: []string{"authorization_code"}, TokenEndpointAuthMethod: "none",
				Scope: "notes:read", SoftwareID: "s", SoftwareVersion: "1"},
			Request: policy.Request{Time: at},
		},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := rs.Validate(decodeJSON(t, b)); err != nil {
				t.Errorf("%s\n%v", b, err)
			}
		})
	}
}

// TestSchemaRejects checks the rules the schema adds to the Go type.
func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	rs := resolveInputSchema(t)
	base := `"method": "m", "user": {"sub": "a", "iss": "i", "groups": [], "claims": {}},
		"token": {"scopes": [], "aud": []}, "request": {"time": "2026-03-02T10:00:00Z"}`
	tool := `"server": {"name": "n", "labels": {}}, "tool": {"name": "n__t", "upstream_name": "t", "server": "n"}`
	prompt := `"prompt": {"name": "n__p", "upstream_name": "p", "server": "n"}`
	user := `"user": {"sub": "a", "iss": "i", "groups": [], "claims": {}}`
	when := `"request": {"time": "2026-03-02T10:00:00Z"}`
	grant := `"method": "oauth/authorize", "client": {"id": "c", "name": "n"}, "grant": {"requested": ["s"], "current": [], "reason": "authorize"}, ` + user + `, ` + when
	reg := `"method": "oauth/register", "registration": {"method": "dynamic", "redirect_uris": [], "redirect_hosts": [], "grant_types": null}, ` + when
	catalogue := `"catalogue": [{"name": "s", "server": "n", "level": "read"}]`
	upstream := `"method": "upstream/connect", "server": {"name": "n", "labels": {}}, ` + user + `, ` + when
	upscopes := `"upstream_scopes": [{"name": "s", "level": "read"}]`
	tests := map[string]string{
		"unknown phase":                 `{"phase": "consent", ` + base + `}`,
		"console with token":            `{"phase": "console", ` + base + `}`,
		"call naming an employee":       `{"phase": "call", "employee": {"sub": "x"}, ` + tool + `, ` + base + `}`,
		"console without user":          `{"phase": "console", "method": "console/servers", ` + when + `}`,
		"console with a target":         `{"phase": "console", "method": "console/revoke", ` + tool + `, ` + user + `, ` + when + `}`,
		"unknown field":                 `{"phase": "initialize", "tenant": "x", ` + base + `}`,
		"list without target":           `{"phase": "list", "server": {"name": "n", "labels": {}}, ` + base + `}`,
		"two targets":                   `{"phase": "call", ` + tool + `, ` + prompt + `, ` + base + `}`,
		"list with arguments":           `{"phase": "list", "arguments": {}, ` + tool + `, ` + base + `}`,
		"missing user":                  `{"phase": "initialize", "method": "m", "token": {"scopes": [], "aud": []}, "request": {"time": "2026-03-02T10:00:00Z"}}`,
		"bad time":                      `{"phase": "initialize", ` + strings.Replace(base, "2026-03-02T10:00:00Z", "yesterday", 1) + `}`,
		"call without token":            `{"phase": "call", "method": "m", ` + tool + `, ` + user + `, ` + when + `}`,
		"list with catalogue":           `{"phase": "list", ` + catalogue + `, ` + tool + `, ` + base + `}`,
		"call with grant":               `{"phase": "call", "grant": {"requested": [], "current": [], "reason": "refresh"}, ` + tool + `, ` + base + `}`,
		"grant with token":              `{"phase": "grant", "token": {"scopes": [], "aud": []}, ` + grant + `}`,
		"grant with a target":           `{"phase": "grant", ` + tool + `, ` + grant + `}`,
		"grant without grant":           `{"phase": "grant", "method": "oauth/token", "client": {"id": "c", "name": "n"}, ` + user + `, ` + when + `}`,
		"grant without user":            `{"phase": "grant", ` + strings.Replace(grant, user+", ", "", 1) + `}`,
		"bad grant reason":              `{"phase": "grant", ` + strings.Replace(grant, `"authorize"}`, `"renew"}`, 1) + `}`,
		"bad scope level":               `{"phase": "grant", ` + strings.Replace(catalogue, "read", "admin", 1) + `, ` + grant + `}`,
		"scope without level":           `{"phase": "grant", "catalogue": [{"name": "s", "server": "n"}], ` + grant + `}`,
		"register with grant":           `{"phase": "register", "grant": {"requested": [], "current": [], "reason": "refresh"}, ` + reg + `}`,
		"register with args":            `{"phase": "register", "arguments": {}, ` + reg + `}`,
		"register with catalogue":       `{"phase": "register", ` + catalogue + `, ` + reg + `}`,
		"register without registration": `{"phase": "register", "method": "oauth/register", ` + when + `}`,
		"bad registration method":       `{"phase": "register", ` + strings.Replace(reg, `"dynamic"`, `"manual"`, 1) + `}`,
		"upstream without server":       `{"phase": "upstream", ` + strings.Replace(upstream, `"server": {"name": "n", "labels": {}}, `, "", 1) + `}`,
		"upstream without user":         `{"phase": "upstream", ` + strings.Replace(upstream, user+", ", "", 1) + `}`,
		"upstream with two targets":     `{"phase": "upstream", ` + prompt + `, "tool": {"name": "n__t", "upstream_name": "t", "server": "n"}, ` + upstream + `}`,
		"upstream with catalogue":       `{"phase": "upstream", ` + catalogue + `, ` + upstream + `}`,
		"upstream with grant":           `{"phase": "upstream", "grant": {"requested": [], "current": [], "reason": "refresh"}, ` + upstream + `}`,
		"upstream with arguments":       `{"phase": "upstream", "arguments": {}, ` + upstream + `}`,
		"bad upstream scope level":      `{"phase": "upstream", ` + strings.Replace(upscopes, "read", "admin", 1) + `, ` + upstream + `}`,
		"upstream scope without level":  `{"phase": "upstream", "upstream_scopes": [{"name": "s"}], ` + upstream + `}`,
		"call with upstream scopes":     `{"phase": "call", ` + upscopes + `, ` + tool + `, ` + base + `}`,
		"grant with upstream scopes":    `{"phase": "grant", ` + upscopes + `, ` + grant + `}`,
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := rs.Validate(decodeJSON(t, []byte(doc))); err == nil {
				t.Errorf("schema accepts %s", doc)
			}
		})
	}
	for _, ok := range []string{
		`{"phase": "call", "arguments": {}, ` + tool + `, ` + base + `}`,
		`{"phase": "call", ` + catalogue + `, ` + tool + `, ` + base + `}`,
		`{"phase": "grant", ` + catalogue + `, ` + grant + `}`,
		`{"phase": "register", ` + reg + `}`,
		`{"phase": "upstream", ` + upscopes + `, ` + upstream + `}`,
		`{"phase": "upstream", ` + upscopes + `, ` + prompt + `, "token": {"scopes": [], "aud": []}, ` + upstream + `}`,
		`{"phase": "register", "client": {"id": "https://a.example/c", "name": "n"}, ` + user + `, ` + reg + `}`,
	} {
		if err := rs.Validate(decodeJSON(t, []byte(ok))); err != nil {
			t.Errorf("schema rejects %s: %v", ok, err)
		}
	}
}

// TestSchemaMatchesInputType keeps the schema and policy.Input in step: the
// same properties as the JSON tags, required exactly when neither omitempty
// nor omitzero (the phase rules of allOf require more), for Input and every
// struct it contains, in lists too.
func TestSchemaMatchesInputType(t *testing.T) {
	t.Parallel()
	s := loadInputSchema(t)
	checkSchemaType(t, "input", reflect.TypeFor[policy.Input](), s, s.Defs)
}

func checkSchemaType(t *testing.T, path string, typ reflect.Type, s *jsonschema.Schema, defs map[string]*jsonschema.Schema) {
	t.Helper()
	if ref, ok := strings.CutPrefix(s.Ref, "#/$defs/"); ok {
		if s = defs[ref]; s == nil {
			t.Fatalf("%s: $ref %q has no definition", path, ref)
		}
	}
	var props, required []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue // not part of the document (encoding/json skips it)
		}
		props = append(props, name)
		if o := strings.Split(opts, ","); !slices.Contains(o, "omitempty") && !slices.Contains(o, "omitzero") {
			required = append(required, name)
		}
		sub, ok := s.Properties[name]
		if !ok {
			t.Errorf("%s: schema lacks property %q (field %s.%s)", path, name, typ.Name(), f.Name)
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			if sub = sub.Items; sub == nil {
				t.Errorf("%s.%s: a list of %s without an items schema", path, name, ft.Elem().Name())
				continue
			}
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			checkSchemaType(t, path+"."+name, ft, sub, defs)
		}
	}
	for name := range s.Properties {
		if !slices.Contains(props, name) {
			t.Errorf("%s: schema property %q is not a field of %s", path, name, typ.Name())
		}
	}
	slices.Sort(required)
	got := slices.Sorted(slices.Values(s.Required))
	if !slices.Equal(got, required) {
		t.Errorf("%s: schema requires %v, the Go type (fields without omitempty) %v", path, got, required)
	}
}
