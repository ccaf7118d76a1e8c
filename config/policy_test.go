package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPolicyLibraryParsed(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ yaml, want string }{
		"omitted": {minimal, PolicyLibraryNone},
		"builtin": {minimal + "policy: {dir: data, library: builtin}\n", PolicyLibraryBuiltin},
		"none":    {minimal + "policy: {dir: rego, library: none}\n", PolicyLibraryNone},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := mustParse(t, tc.yaml).Policy.Library; got != tc.want {
				t.Errorf("policy.library = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPolicyProblems(t *testing.T) {
	t.Parallel()
	opaConfig := filepath.Join(t.TempDir(), "opa.yaml")
	if err := os.WriteFile(opaConfig, []byte("bundles: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		yaml string
		want []Problem
	}{
		"unknown library": {minimal + "policy: {dir: d, library: shipped}\n",
			[]Problem{{"policy.library", `must be builtin or none, not "shipped"`}}},
		"empty library": {minimal + "policy: {dir: d, library: ''}\n",
			[]Problem{{"policy.library", `must be builtin or none, not ""`}}},
		"builtin with bundles": {minimal + "policy: {opa_config_file: '" + opaConfig + "', library: builtin}\n",
			[]Problem{{"policy.library", "builtin cannot be combined with opa_config_file: a bundle carries its whole policy; build the library into the bundle, or set library to none"}}},
		"collected with the others": {minimal + "policy: {dir: d, library: x, timeout: 0s}\n",
			[]Problem{{"policy.library", `must be builtin or none, not "x"`}, {"policy.timeout", "must be between 1ms and 10s"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, problemsOf(t, tc.yaml)); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequirePolicy(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		policy   string
		wantPath string // "" when a policy source is set
	}{
		"dir":                  {"policy: {dir: rego}\n", ""},
		"dir with the library": {"policy: {dir: data, library: builtin}\n", ""},
		"nothing":              {"", "policy"},
		"library without dir":  {"policy: {library: builtin}\n", "policy.dir"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := mustParse(t, minimal+tc.policy).RequirePolicy()
			var ve *ValidationError
			switch {
			case tc.wantPath == "" && err != nil:
				t.Errorf("RequirePolicy() = %v, want nil", err)
			case tc.wantPath != "" && (!errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != tc.wantPath):
				t.Errorf("RequirePolicy() = %v, want one problem at %s", err, tc.wantPath)
			}
		})
	}
}
