package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// shippedPolicy is the policy library, relative to this package.
const shippedPolicy = "../../rego"

// writeFiles writes name → content into a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const tinyPolicy = `package tiny

default allow := false

allow if input.user == "alice"

unused if input.never
`

func TestPolicyTestShippedLibrary(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI(t, nil, "policy", "test", "-v", "--coverage", "--threshold", "90",
		"--timeout", "2m", // -race and a loaded CI machine: the limit is not what this test checks
		shippedPolicy)
	if code != exitOK {
		t.Fatalf("exit code = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"data.mcpgate.authz_test.test_demo_outcome: PASS",
		"data.mcpgate.examples.prod_readonly_test.test_engineers_only_read_on_prod: PASS",
		"rego/authz.rego",
		"total (",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^PASS: (\d+)/\d+$`).MatchString(stdout) {
		t.Errorf("stdout lacks the PASS: n/n summary:\n%s", stdout)
	}
}

func TestPolicyTest(t *testing.T) {
	t.Parallel()
	passing := map[string]string{
		"tiny.rego": tinyPolicy,
		"tiny_test.rego": `package tiny_test

import data.tiny

test_alice if tiny.allow with input as {"user": "alice"}

test_bob if not tiny.allow with input as {"user": "bob"}
`,
	}
	failing := map[string]string{
		"tiny.rego": tinyPolicy,
		"tiny_test.rego": `package tiny_test

import data.tiny

test_pass if tiny.allow with input as {"user": "alice"}

test_bob_allowed if tiny.allow with input as {"user": "bob"}
`,
	}
	tests := map[string]struct {
		files      map[string]string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		"pass":          {passing, nil, exitOK, []string{"PASS: 2/2"}, ""},
		"verbose":       {passing, []string{"-v"}, exitOK, []string{"data.tiny_test.test_alice: PASS", "data.tiny_test.test_bob: PASS"}, ""},
		"fail":          {failing, nil, exitFail, []string{"data.tiny_test.test_bob_allowed: FAIL", "PASS: 1/2", "FAIL: 1/2"}, "1 of 2 tests failed"},
		"run filter":    {failing, []string{"--run", "test_pass"}, exitOK, []string{"PASS: 1/1"}, ""},
		"coverage":      {passing, []string{"--coverage"}, exitOK, []string{"coverage (policy files, tests excluded):", "tiny.rego", "total (2 of 3 lines)"}, ""},
		"threshold met": {passing, []string{"--threshold", "60"}, exitOK, []string{"66.7%  total"}, ""},
		"below threshold": {passing, []string{"--threshold", "90"}, exitFail, []string{"66.7%  total"},
			"coverage 66.7% is below the threshold of 90.0%"},
		"no tests":    {map[string]string{"tiny.rego": tinyPolicy}, nil, exitFail, nil, "no tests found"},
		"parse error": {map[string]string{"x.rego": "package x\n\nallow if {\n"}, nil, exitFail, nil, "x.rego:4: rego_parse_error"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, tt.files)
			code, stdout, stderr := runCLI(t, nil, append(append([]string{"policy", "test"}, tt.args...), dir)...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestPolicyUsage(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStderr string
	}{
		"no subcommand":   {[]string{"policy"}, exitUsage, "usage: mcpgate policy COMMAND"},
		"unknown":         {[]string{"policy", "frob"}, exitUsage, `mcpgate policy: unknown command "frob"`},
		"bad threshold":   {[]string{"policy", "test", "--threshold", "101"}, exitUsage, "--threshold must be between 0 and 100"},
		"eval no input":   {[]string{"policy", "eval"}, exitUsage, "--input is required"},
		"eval stray arg":  {[]string{"policy", "eval", "--input", "x.json", "extra"}, exitUsage, `unexpected argument "extra"`},
		"test help":       {[]string{"policy", "test", "-h"}, exitOK, ""},
		"missing dir":     {[]string{"policy", "test", "does-not-exist"}, exitFail, "does-not-exist"},
		"eval bad policy": {[]string{"policy", "eval", "--policy", "does-not-exist", "--input", "x.json"}, exitFail, "load does-not-exist"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t, nil, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

type evalDecision struct {
	Allow          bool     `json:"allow"`
	Reasons        []string `json:"reasons"`
	RequiredScopes []string `json:"required_scopes"`
}

func TestPolicyEval(t *testing.T) {
	t.Parallel()
	inputs := "testdata/policy-inputs/"
	tests := map[string]struct {
		args []string
		want evalDecision
	}{
		"alice may not delete a note": {
			[]string{"--input", inputs + "call-alice-delete-note.json"},
			evalDecision{false, []string{"group engineering may not use destructive tool notes__delete_note"}, []string{}},
		},
		"alice writes a note": {
			[]string{"--input", inputs + "call.json"},
			evalDecision{true, []string{"group engineering grants tool notes__write_note"}, []string{}},
		},
		"bob does not see write_note": {
			[]string{"--input", inputs + "list.json"},
			evalDecision{false, []string{"group hr may only use read-only tools of server notes, and notes__write_note is not read-only"}, []string{}},
		},
		"other data replaces the directory's": {
			[]string{"--input", inputs + "call.json", "--data", shippedPolicy + "/examples/destructive_admin_only/data.json"},
			evalDecision{false, []string{"no group of user alice@example.com (groups: engineering) grants access to server notes"}, []string{}},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, nil, append([]string{"policy", "eval", "--policy", shippedPolicy}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, stderr)
			}
			if !strings.HasPrefix(stdout, "{\n  \"allow\"") {
				t.Errorf("stdout is not indented JSON:\n%s", stdout)
			}
			var got evalDecision
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("stdout: %v\n%s", err, stdout)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyEvalErrors(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"in.json":  `{"user": "alice"}`,
		"bad.json": `{"user": `,
		"p/p.rego": "package mcpgate.authz\n\ndecision := {\"allow\": true} if input.user == \"alice\"\n",
		// A built-in error: the gateway's engine fails (and denies); eval
		// must say so, not answer from a rule that went undefined.
		"strict/s.rego": "package mcpgate.authz\n\ndefault decision := {\"allow\": true}\n\ndecision := {\"allow\": false} if to_number(input.user) > 0\n",
	})
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStderr string
	}{
		"allowed":   {[]string{"--input", dir + "/in.json"}, exitOK, ""},
		"undefined": {[]string{"--input", dir + "/in.json", "--query", "data.mcpgate.authz.nothing"}, exitFail, "data.mcpgate.authz.nothing is undefined for this input (the gateway denies)"},
		"bad input": {[]string{"--input", dir + "/bad.json"}, exitFail, "bad.json"},
		"rego data": {[]string{"--input", dir + "/in.json", "--data", dir + "/p/p.rego"}, exitFail, "--data takes JSON or YAML files"},
	}
	code, stdout, stderr := runCLI(t, nil, "policy", "eval", "--policy", dir+"/strict", "--input", dir+"/in.json")
	if code != exitFail || !strings.Contains(stderr, "to_number") {
		t.Errorf("eval of a policy whose built-in fails: exit %d, stdout %s, stderr %q; want exit 1 naming the error, as the gateway denies", code, stdout, stderr)
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t, nil, append([]string{"policy", "eval", "--policy", dir + "/p"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		files      map[string]string
		wantCode   int
		wantStderr []string
	}{
		"clean": {map[string]string{"tiny.rego": tinyPolicy}, exitOK, nil},
		"parse error": {map[string]string{"tiny.rego": tinyPolicy, "broken.rego": "package broken\n\nallow if {\n\tinput.x ==\n}\n"},
			exitFail, []string{"broken.rego:5: rego_parse_error"}},
		"compile error": {map[string]string{"c.rego": "package c\n\nallow if undefined_function(input.x)\n"},
			exitFail, []string{"c.rego:3: rego_type_error: undefined function undefined_function"}},
		"strict mode": {map[string]string{"s.rego": "package s\n\nimport data.other\n\nallow if {\n\tx := input.y\n\ttrue\n}\n"},
			exitFail, []string{"s.rego:3: rego_compile_error: import data.other unused", "s.rego:6: rego_compile_error: assigned var x unused"}},
		"unformatted": {map[string]string{"u.rego": "package u\nallow if { input.x == 1 }\n"},
			exitFail, []string{"u.rego: not in opa fmt style (run: mcpgate policy fmt -w "}},
		"data conflicts with a rule": {map[string]string{"tiny.rego": tinyPolicy, "data.json": `{"tiny": {"allow": true}}`},
			exitFail, []string{"rego_compile_error: conflicting rule for data path tiny/allow found"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, tt.files)
			code, stdout, stderr := runCLI(t, nil, "policy", "check", dir)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

func TestPolicyCheckShippedLibrary(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI(t, nil, "policy", "check", shippedPolicy)
	if code != exitOK || !strings.Contains(stdout, "no problems") {
		t.Errorf("exit code = %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestPolicyFmt(t *testing.T) {
	t.Parallel()
	ugly := "package u\nallow if { input.x == 1 }\n"
	dir := writeFiles(t, map[string]string{"u.rego": ugly, "ok.rego": tinyPolicy})
	code, stdout, _ := runCLI(t, nil, "policy", "fmt", dir)
	if code != exitFail || strings.TrimSpace(stdout) != filepath.Join(dir, "u.rego") {
		t.Fatalf("fmt: exit code = %d, stdout = %q; want 1 and only u.rego", code, stdout)
	}
	if code, _, stderr := runCLI(t, nil, "policy", "fmt", "-w", dir); code != exitOK {
		t.Fatalf("fmt -w: exit code = %d; stderr:\n%s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "u.rego"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "package u\n\nallow if input.x == 1\n"; string(b) != want {
		t.Errorf("u.rego after fmt -w = %q, want %q", b, want)
	}
	if code, stdout, _ := runCLI(t, nil, "policy", "fmt", dir); code != exitOK || stdout != "" {
		t.Errorf("fmt after -w: exit code = %d, stdout = %q", code, stdout)
	}
}
