package policytool_test

import (
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/policy/policytool"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		files     map[string]string
		wantFiles int
		want      []string
	}{
		"clean": {map[string]string{"tiny.rego": tinyPolicy}, 1, nil},
		"parse error": {map[string]string{"tiny.rego": tinyPolicy, "broken.rego": "package broken\n\nallow if {\n\tinput.x ==\n}\n"},
			0, []string{"broken.rego:5: rego_parse_error"}},
		"compile error": {map[string]string{"c.rego": "package c\n\nallow if undefined_function(input.x)\n"},
			1, []string{"c.rego:3: rego_type_error: undefined function undefined_function"}},
		"strict mode": {map[string]string{"s.rego": "package s\n\nimport data.other\n\nallow if {\n\tx := input.y\n\ttrue\n}\n"},
			1, []string{"s.rego:3: rego_compile_error: import data.other unused", "s.rego:6: rego_compile_error: assigned var x unused"}},
		"unformatted": {map[string]string{"u.rego": "package u\nallow if { input.x == 1 }\n"},
			1, []string{"u.rego: not in opa fmt style (run: mcpgate policy fmt -w "}},
		"data conflicts with a rule": {map[string]string{"tiny.rego": tinyPolicy, "data.json": `{"tiny": {"allow": true}}`},
			1, []string{"rego_compile_error: conflicting rule for data path tiny/allow found"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := policytool.Check(t.Context(), []string{writeFiles(t, tt.files)})
			if r.Files != tt.wantFiles || len(r.Problems) != len(tt.want) {
				t.Errorf("Check: %d files, problems %q; want %d files, %d problems", r.Files, r.Problems, tt.wantFiles, len(tt.want))
			}
			all := strings.Join(r.Problems, "\n")
			for _, want := range tt.want {
				if !strings.Contains(all, want) {
					t.Errorf("problems lack %q:\n%s", want, all)
				}
			}
		})
	}
}

func TestCheckShippedLibrary(t *testing.T) {
	t.Parallel()
	r := policytool.Check(t.Context(), []string{shippedPolicy})
	if len(r.Problems) > 0 || r.Files == 0 {
		t.Errorf("Check(%s): %d files, problems:\n%s", shippedPolicy, r.Files, strings.Join(r.Problems, "\n"))
	}
}
