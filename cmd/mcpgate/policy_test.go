package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The tooling itself is tested in policy/policytool; these tests check the
// flags, the output and the exit codes of mcpgate policy.
const (
	shippedPolicy = "../../rego"
	policyCases   = "testdata/policy/"
)

func TestPolicyTest(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		"pass": {[]string{policyCases + "passing"}, exitOK, []string{"PASS: 2/2"}, ""},
		"flags reach the tool": {[]string{"-v", "--coverage", "--run", "alice", "--timeout", "1m", policyCases + "passing"}, exitOK,
			[]string{"data.tiny_test.test_alice: PASS", "PASS: 1/1", "not covered: testdata/policy/passing/tiny.rego:7-7", "total (1 of 3 lines)"}, ""},
		"fail": {[]string{policyCases + "failing"}, exitFail, []string{"FAIL: 1/2"}, "mcpgate policy test: 1 of 2 tests failed\n"},
		"below threshold": {[]string{"--threshold", "90", policyCases + "passing"}, exitFail, []string{"66.7%  total"},
			"mcpgate policy test: coverage 66.7% is below the threshold of 90.0%\n"},
		"no tests": {[]string{policyCases + "unformatted"}, exitFail, nil, "mcpgate policy test: no tests found in testdata/policy/unformatted\n"},
		// An organisation's data and tests, without the library: they need it.
		"org data with the built-in library":    {[]string{"--library", "builtin", policyCases + "orgdata"}, exitOK, []string{"PASS: 1/1"}, ""},
		"org data without the built-in library": {[]string{policyCases + "orgdata"}, exitFail, []string{"FAIL: 1/1"}, "mcpgate policy test: 1 of 1 tests failed\n"},
		"bad library":                           {[]string{"--library", "mine", policyCases + "orgdata"}, exitUsage, nil, "mcpgate policy test: --library must be builtin or none\nRun 'mcpgate policy test -h' for usage.\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, nil, append([]string{"policy", "test"}, tt.args...)...)
			if code != tt.wantCode || stderr != tt.wantStderr {
				t.Errorf("exit code = %d, stderr = %q; want %d, %q\nstdout:\n%s", code, stderr, tt.wantCode, tt.wantStderr, stdout)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
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
		"missing dir":     {[]string{"policy", "test", "does-not-exist"}, exitFail, "mcpgate policy test: 1 error occurred during loading: stat does-not-exist"},
		"eval bad policy": {[]string{"policy", "eval", "--policy", "does-not-exist", "--input", "x.json"}, exitFail, "mcpgate policy eval: load does-not-exist"},
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

// TestPolicyEval evaluates the shipped library for the example inputs the
// docs use.
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
		"alice must step up to write": {
			[]string{"--input", inputs + "call-step-up.json"},
			evalDecision{false, []string{"token carries no scope that allows tool notes__write_note: ask for notes:write"}, []string{"notes:read", "notes:write"}},
		},
		"a client registers with a metadata document": {
			[]string{"--input", inputs + "register.json"},
			evalDecision{true, []string{"client metadata documents from app.example.com are accepted"}, []string{}},
		},
		"the decision of a grant input, asked for": {
			[]string{"--input", inputs + "grant.json", "--query", "data.mcpgate.authz.decision"},
			evalDecision{false, []string{"phase grant is decided by data.mcpgate.authz.grant, not decision"}, []string{}},
		},
		"the decision of an upstream input, asked for": {
			[]string{"--input", inputs + "upstream-connect.json", "--query", "data.mcpgate.authz.decision"},
			evalDecision{false, []string{"phase upstream is decided by data.mcpgate.authz.upstream_scopes, not decision"}, []string{}},
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

// TestPolicyEvalScopes evaluates the scope document of a grant-phase or
// upstream-phase input without --query: the grant, the upstream scopes.
func TestPolicyEvalScopes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		input   string
		scopes  []string
		reasons int
	}{
		"grant: a reason for each of the three requested":          {"grant.json", []string{"hr:read", "notes:read"}, 3},
		"upstream call: the lowest level covering write_note":      {"upstream-call.json", []string{"notes.write"}, 3},
		"upstream connect: what bob's level reaches on the server": {"upstream-connect.json", []string{"notes.read"}, 3},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, nil, "policy", "eval", "--policy", shippedPolicy, "--input", "testdata/policy-inputs/"+tt.input)
			if code != exitOK {
				t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, stderr)
			}
			var got struct {
				Scopes  []string `json:"scopes"`
				Reasons []string `json:"reasons"`
			}
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("stdout: %v\n%s", err, stdout)
			}
			if !slices.Equal(got.Scopes, tt.scopes) || len(got.Reasons) != tt.reasons {
				t.Errorf("got %+v, want scopes %v and %d reasons", got, tt.scopes, tt.reasons)
			}
		})
	}
}

// TestPolicyEvalUndefined checks the --query flag and that a decision the
// gateway denies for lack of one exits 1.
func TestPolicyEvalUndefined(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI(t, nil, "policy", "eval", "--policy", shippedPolicy,
		"--input", "testdata/policy-inputs/call.json", "--query", "data.mcpgate.authz.nothing")
	want := "mcpgate policy eval: data.mcpgate.authz.nothing is undefined for this input (the gateway denies)\n"
	if code != exitFail || stdout != "" || stderr != want {
		t.Errorf("exit code = %d, stdout = %q, stderr = %q; want 1 and stderr %q", code, stdout, stderr, want)
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		dir                    string
		wantCode               int
		wantStdout, wantStderr string
	}{
		"clean": {policyCases + "passing", exitOK, "policy check: 2 Rego files, no problems\n", ""},
		"unformatted": {policyCases + "unformatted", exitFail, "",
			"testdata/policy/unformatted/u.rego: not in opa fmt style (run: mcpgate policy fmt -w testdata/policy/unformatted/u.rego)\n" +
				"mcpgate policy check: 1 problem(s)\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, nil, "policy", "check", tt.dir)
			if code != tt.wantCode || stdout != tt.wantStdout || stderr != tt.wantStderr {
				t.Errorf("exit code = %d, stdout = %q, stderr = %q; want %d, %q, %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestPolicyFmt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(policyCases+"unformatted")); err != nil {
		t.Fatal(err)
	}
	ugly := filepath.Join(dir, "u.rego")
	if code, stdout, _ := runCLI(t, nil, "policy", "fmt", dir); code != exitFail || stdout != ugly+"\n" {
		t.Fatalf("fmt: exit code = %d, stdout = %q; want 1 and only u.rego", code, stdout)
	}
	if code, stdout, stderr := runCLI(t, nil, "policy", "fmt", "-w", dir); code != exitOK || stdout != ugly+"\n" {
		t.Fatalf("fmt -w: exit code = %d, stdout = %q; stderr:\n%s", code, stdout, stderr)
	}
	if code, stdout, _ := runCLI(t, nil, "policy", "fmt", dir); code != exitOK || stdout != "" {
		t.Errorf("fmt after -w: exit code = %d, stdout = %q", code, stdout)
	}
	if code, _, stderr := runCLI(t, nil, "policy", "fmt", "does-not-exist"); code != exitFail || !strings.HasPrefix(stderr, "mcpgate policy fmt: lstat does-not-exist") {
		t.Errorf("fmt of a missing path: exit code = %d, stderr = %q", code, stderr)
	}
}
