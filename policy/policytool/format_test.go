package policytool_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/policy/policytool"
)

func TestFmt(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"u.rego": "package u\nallow if { input.x == 1 }\n", "ok.rego": tinyPolicy, "data.json": "{ }"})
	want := []string{filepath.Join(dir, "u.rego")}
	if got, err := policytool.Fmt([]string{dir}, nil); err != nil || !slices.Equal(got, want) {
		t.Fatalf("Fmt = %q, %v; want %q", got, err, want)
	}
	if got, err := policytool.Fmt([]string{dir}, &policytool.FmtOptions{Write: true}); err != nil || !slices.Equal(got, want) {
		t.Fatalf("Fmt -w = %q, %v; want %q", got, err, want)
	}
	b, err := os.ReadFile(want[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := "package u\n\nallow if input.x == 1\n"; string(b) != want {
		t.Errorf("u.rego after Fmt -w = %q, want %q", b, want)
	}
	if got, err := policytool.Fmt([]string{dir}, nil); err != nil || len(got) > 0 {
		t.Errorf("Fmt after -w = %q, %v; want nothing", got, err)
	}
}

func TestFmtErrors(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"a.rego": "package a\nallow if { input.x == 1 }\n", "b.rego": "package b\n\nallow if {\n"})
	tests := map[string]struct {
		paths     []string
		wantNames []string
		want      string
	}{
		"missing path":          {[]string{"does-not-exist"}, nil, "policytool: fmt: lstat does-not-exist"},
		"default dir":           {nil, nil, "policytool: fmt: lstat rego"},
		"parse error after one": {[]string{dir}, []string{filepath.Join(dir, "a.rego")}, "policytool: fmt: format " + filepath.Join(dir, "b.rego")},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := policytool.Fmt(tt.paths, nil)
			if !slices.Equal(got, tt.wantNames) || err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Fmt = %q, %v; want %q and an error starting %q", got, err, tt.wantNames, tt.want)
			}
		})
	}
}
