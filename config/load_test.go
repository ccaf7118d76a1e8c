package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStructuralProblems(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		yaml string
		path string
		msg  string
	}{
		"unknown top-level key": {"lisen: x\n" + minimal, "lisen",
			`unknown key (known keys: listen, public_url, max_request_bytes, shutdown_grace, session_idle_timeout, session_key_file, readyz_detail, trusted_proxies, naming, servers, scopes, auth, authorization_server, web_sign_in, identity_assertions, limits, policy, telemetry, approval, store, console): did you mean "listen"?`},
		"unknown nested key": {"naming:\n  sep: x\n" + minimal, "naming.sep", "unknown key (known keys: separator)"},
		"unknown key in list item": {minimal + "  - name: b\n    url: https://b\n    tiemout: 5s\n", "servers[1].tiemout",
			`unknown key (known keys: name, url, transport, allow_insecure_http, timeout, prefix, labels, headers, auth, approval): did you mean "timeout"?`},
		"unknown key in header": {minimal + "    headers:\n      - name: X\n        value: v\n        secret: s\n", "servers[0].headers[0].secret",
			"unknown key (known keys: name, value, value_from_env, value_from_file)"},
		"odd unknown key":         {"\"a b\": 1\n" + minimal, `["a b"]`, "unknown key"},
		"merge key unsupported":   {"<<: {listen: x}\n" + minimal, `["<<"]`, "unknown key"},
		"listen not string":       {"listen: 8080\n" + minimal, "listen", "must be a string, got a number"},
		"listen is list":          {"listen: [a]\n" + minimal, "listen", "must be a string, got a list"},
		"servers is mapping":      {"servers: {name: a}\n", "servers", "must be a list, got a mapping"},
		"naming is string":        {"naming: x\n" + minimal, "naming", "must be a mapping, got a string"},
		"server is string":        {"servers: [notes]\n", "servers[0]", "must be a mapping, got a string"},
		"bool not bool":           {minimal + "    allow_insecure_http: yes\n", "servers[0].allow_insecure_http", "must be true or false, got a string"},
		"labels not mapping":      {minimal + "    labels: [a]\n", "servers[0].labels", "must be a mapping, got a list"},
		"label value not string":  {minimal + "    labels: {tier: 1}\n", "servers[0].labels.tier", "must be a string, got a number"},
		"prefix null":             {minimal + "    prefix: ~\n", "servers[0].prefix", "must be a string, got nothing (null)"},
		"non-string key":          {"[a]: 1\n" + minimal, "", "keys must be strings, got a list"},
		"duplicate top-level key": {"listen: a:1\nlisten: b:2\n" + minimal, "listen", "duplicate key: already defined on line 1"},
		"duplicate nested key":    {minimal + "    url: https://other\n", "servers[0].url", "duplicate key: already defined on line 4"},
		"duplicate label":         {minimal + "    labels: {a: x, a: y}\n", "servers[0].labels.a", "duplicate key"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tc.yaml), tc.path, tc.msg)
		})
	}
}

func TestFileLevelErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		data string
		want string
	}{
		"empty":           {"", "config: parse my.yaml: file is empty"},
		"only comments":   {"# nothing\n", "config: parse my.yaml: file is empty"},
		"null document":   {"---\n", "config: parse my.yaml: file is empty"},
		"list":            {"- a\n- b\n", "config: parse my.yaml: top level must be a mapping of keys, got a list"},
		"scalar":          {"hello\n", "config: parse my.yaml: top level must be a mapping of keys, got a string"},
		"syntax error":    {"servers: [\n", "config: parse my.yaml: invalid YAML: line "},
		"tab indentation": {"servers:\n\t- name: a\n", "config: parse my.yaml: invalid YAML: line 2"},
		"two documents":   {minimal + "---\n" + minimal, "config: parse my.yaml: file holds more than one YAML document"},
		"oversized":       {"# " + strings.Repeat("x", MaxFileSize) + "\n", "config: parse my.yaml: file is larger than 1048576 bytes (1 MiB)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.data), "my.yaml")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got error %v, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", minimal)
	big := write("big.yaml", strings.Repeat("#", MaxFileSize+1))
	bad := write("bad.yaml", "listen: 1\n"+minimal)

	if cfg, err := Load(good); err != nil || cfg.Servers[0].Name != "notes" {
		t.Errorf("Load(good) = %v, %v", cfg, err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "config: load "+big+": file is larger than") {
		t.Errorf("Load(big) error = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want os.ErrNotExist", err)
	}
	_, err := Load(bad)
	var verr *ValidationError
	if !errors.As(err, &verr) || !strings.HasPrefix(err.Error(), "config: invalid "+bad+":\nlisten: must be a string") {
		t.Errorf("Load(bad) error = %v", err)
	}
}

// TestProblemsInDocumentOrder checks that every problem is reported, in
// the order of the document rather than alphabetically or by kind.
func TestProblemsInDocumentOrder(t *testing.T) {
	t.Parallel()
	src := `
shutdown_grace: -1s
listen: nowhere
servers:
  - name: a
    url: https://a
  - name: b
    url: http://b/mcp
    transport: grpc
  - name: c
    url: https://c
  - name: d
    url: https://d
  - name: e
    url: https://e
  - name: f
    url: https://f
  - name: g
    url: https://g
  - name: h
    url: https://h
  - name: i
    url: https://i
  - name: j
    url: https://j
  - name: Bad!
    url: https://k
    bogus: 1
naming:
  separator: "::"
`
	want := []Problem{
		{"shutdown_grace", "must not be negative"},
		{"listen", `"nowhere" is not a valid address: use host:port with a port from 1 to 65535, e.g. 127.0.0.1:8080`},
		{"servers[1].url", "must be https unless allow_insecure_http is set"},
		{"servers[1].transport", `"grpc" is not supported: use streamable-http or sse`},
		{"servers[10].name", `"Bad!" is not a valid name: ` + nameRule},
		{"servers[10].bogus", "unknown key (known keys: name, url, transport, allow_insecure_http, timeout, prefix, labels, headers, auth, approval)"},
		{"naming.separator", `"::" is not a valid separator: use 1-4 characters from A-Z, a-z, 0-9, '_', '-', '.'`},
	}
	if diff := cmp.Diff(want, problemsOf(t, src)); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
}

func TestAliases(t *testing.T) {
	t.Parallel()
	src := `
servers:
  - &base {name: a, url: "https://a", labels: &labels {env: prod}}
  - {name: b, url: "https://b", labels: *labels}
`
	cfg := mustParse(t, src)
	if diff := cmp.Diff(cfg.Servers[0].Labels, cfg.Servers[1].Labels); diff != "" {
		t.Errorf("aliased labels differ:\n%s", diff)
	}
}

func TestAliasExpansionBounded(t *testing.T) {
	t.Parallel()
	src := "h: &h {name: X-A, value: v}\n" +
		"hs: &hs [" + strings.Repeat("*h, ", 999) + "*h]\n" +
		"s: &s {name: a, url: 'https://a', headers: *hs}\n" +
		"servers: [" + strings.Repeat("*s, ", 999) + "*s]\n"
	ps := problemsOf(t, src)
	found := false
	for _, p := range ps {
		found = found || strings.Contains(p.Message, "document expands to more than 100000 nodes")
	}
	if !found || len(ps) > 4 {
		t.Errorf("got %d problems, want only the unknown keys and the expansion limit:\n%v", len(ps), ps)
	}
}
