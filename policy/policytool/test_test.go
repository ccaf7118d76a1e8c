package policytool_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/policy/policytool"
)

var (
	passingTests = map[string]string{
		"tiny.rego": tinyPolicy,
		"tiny_test.rego": `package tiny_test

import data.tiny

test_alice if tiny.allow with input as {"user": "alice"}

test_bob if not tiny.allow with input as {"user": "bob"}
`,
	}
	failingTests = map[string]string{
		"tiny.rego": tinyPolicy,
		"tiny_test.rego": `package tiny_test

import data.tiny

test_pass if tiny.allow with input as {"user": "alice"}

test_bob_allowed if tiny.allow with input as {"user": "bob"}
`,
	}
)

func TestTest(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		files       map[string]string
		opts        policytool.TestOptions
		wantTotal   int
		wantFailed  int
		wantCover   bool
		wantOutput  []string
		wantErr     error
		wantMessage string
	}{
		"pass":          {files: passingTests, wantTotal: 2, wantOutput: []string{"PASS: 2/2"}},
		"verbose":       {files: passingTests, opts: policytool.TestOptions{Verbose: true}, wantTotal: 2, wantOutput: []string{"data.tiny_test.test_alice: PASS", "data.tiny_test.test_bob: PASS"}},
		"fail":          {files: failingTests, wantTotal: 2, wantFailed: 1, wantOutput: []string{"data.tiny_test.test_bob_allowed: FAIL", "PASS: 1/2", "FAIL: 1/2"}, wantErr: policytool.ErrTestsFailed, wantMessage: "policytool: test: 1 of 2 tests failed"},
		"run filter":    {files: failingTests, opts: policytool.TestOptions{Run: "test_pass"}, wantTotal: 1, wantOutput: []string{"PASS: 1/1"}},
		"coverage":      {files: passingTests, opts: policytool.TestOptions{Coverage: true}, wantTotal: 2, wantCover: true, wantOutput: []string{"coverage (policy files, tests excluded):", "tiny.rego", "total (2 of 3 lines)"}},
		"threshold met": {files: passingTests, opts: policytool.TestOptions{Threshold: 60}, wantTotal: 2, wantCover: true, wantOutput: []string{"66.7%  total"}},
		"below threshold": {files: passingTests, opts: policytool.TestOptions{Threshold: 90}, wantTotal: 2, wantCover: true, wantOutput: []string{"66.7%  total"},
			wantErr: policytool.ErrBelowThreshold, wantMessage: "policytool: test: coverage 66.7% is below the threshold of 90.0%"},
		"no tests":               {files: map[string]string{"tiny.rego": tinyPolicy}, wantErr: policytool.ErrNoTests},
		"failures hide coverage": {files: failingTests, opts: policytool.TestOptions{Threshold: 90}, wantTotal: 2, wantFailed: 1, wantErr: policytool.ErrTestsFailed},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			tt.opts.Output = &out
			rep, err := policytool.Test(t.Context(), []string{writeFiles(t, tt.files)}, &tt.opts)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantMessage != "" && err.Error() != tt.wantMessage {
				t.Errorf("error = %q, want %q", err, tt.wantMessage)
			}
			if rep.Total != tt.wantTotal || rep.Failed != tt.wantFailed {
				t.Errorf("report: %d of %d failed, want %d of %d", rep.Failed, rep.Total, tt.wantFailed, tt.wantTotal)
			}
			if (rep.Coverage != nil) != tt.wantCover {
				t.Errorf("coverage report = %v, want one: %v", rep.Coverage, tt.wantCover)
			}
			for _, want := range tt.wantOutput {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestTestCannotRun checks that a policy that does not load yields no
// report and an error naming the problem, not a test verdict.
func TestTestCannotRun(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		paths []string
		want  string
	}{
		"parse error": {[]string{writeFiles(t, map[string]string{"x.rego": "package x\n\nallow if {\n"})}, "x.rego:4: rego_parse_error"},
		"missing dir": {[]string{"does-not-exist"}, "does-not-exist"},
		"default dir": {nil, "stat rego"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep, err := policytool.Test(t.Context(), tt.paths, nil)
			te, ok := errors.AsType[*policytool.Error](err)
			if rep != nil || !ok || te.Op != "test" || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Test = %v, %v; want no report and a test error containing %q", rep, err, tt.want)
			}
		})
	}
}

func TestTestShippedLibrary(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	opts := &policytool.TestOptions{
		Verbose: true, Threshold: 90, Output: &out,
		Timeout: 2 * time.Minute, // -race and a loaded CI machine: the limit is not what this test checks
	}
	rep, err := policytool.Test(t.Context(), []string{shippedPolicy}, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"data.mcpgate.authz_test.test_demo_outcome: PASS",
		"data.mcpgate.examples.prod_readonly_test.test_engineers_only_read_on_prod: PASS",
		"rego/authz.rego",
		"total (",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !regexp.MustCompile(`(?m)^PASS: (\d+)/\d+$`).MatchString(out.String()) {
		t.Errorf("output lacks the PASS: n/n summary:\n%s", out.String())
	}
	if rep.Total == 0 || rep.Coverage.Percent() < 90 {
		t.Errorf("report: %d tests, coverage %v", rep.Total, rep.Coverage)
	}
}

// With Library, the tests under the paths are compiled with the library's
// modules, as the gateway compiles policy.library: builtin with policy.dir.
func TestTestWithLibrary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"data.json":     `{"org": {"ok": true}}`,
		"org_test.rego": "package org_test\n\nimport data.lib\n\ntest_library_sees_org_data if lib.allowed\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	library := map[string]string{"lib.rego": "package lib\n\nallowed if data.org.ok\n"}
	rep, err := policytool.Test(context.Background(), []string{dir}, &policytool.TestOptions{Library: library})
	if err != nil || rep.Total != 1 || rep.Failed != 0 {
		t.Errorf("with the library: %+v, %v; want 1 passing test", rep, err)
	}
	if rep, err := policytool.Test(context.Background(), []string{dir}, nil); !errors.Is(err, policytool.ErrTestsFailed) || rep.Failed != 1 {
		t.Errorf("without the library: %+v, %v; want the test to fail", rep, err)
	}
	bad := map[string]string{"lib.rego": "package lib\n\nallowed if {"}
	if _, err := policytool.Test(context.Background(), []string{dir}, &policytool.TestOptions{Library: bad}); err == nil || !strings.Contains(err.Error(), "library lib.rego") {
		t.Errorf("a library that does not parse: %v, want an error naming it", err)
	}
}
