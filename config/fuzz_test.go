package config

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// FuzzParse checks that Parse never panics, and that any configuration it
// accepts validates clean and survives a YAML round trip unchanged.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../mcpgate.example.yaml"); err == nil {
		f.Add(data)
	}
	for _, seed := range []string{
		minimal,
		"",
		"- a\n",
		"listen: ':9000'\npublic_url: https://x/\nmax_request_bytes: 512KiB\n" + minimal + "    prefix: ''\n    labels: {a: b}\n",
		minimal + "    headers: [{name: X-A, value: v}]\n    allow_insecure_http: true\n    transport: sse\n",
		"servers: [&s {name: a, url: 'https://a'}, *s]\n",
		"a: &a [*a]\n",
		"naming: {separator: '.'}\n" + minimal,
		withAuth(pkjwtAuth + ", client_key: {value_from_file: /k.pem}, client_key_id: k1, client_assertion_audience: 'https://login.example'}"),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config does not validate:\n%v\ninput:\n%s", err, data)
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := Parse(out, "roundtrip.yaml")
		if err != nil {
			t.Fatalf("re-parse of marshalled config failed:\n%v\nmarshalled:\n%s", err, out)
		}
		if diff := cmp.Diff(cfg, again); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}
