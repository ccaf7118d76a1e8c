package config

import (
	"errors"
	"strings"
	"testing"
)

// minimal is the smallest valid configuration.
const minimal = `
servers:
  - name: notes
    url: https://notes.example/mcp
`

// mustParse parses src and fails the test on error.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v", err)
	}
	return cfg
}

// problemsOf parses src and returns the problems of its ValidationError.
func problemsOf(t *testing.T, src string) []Problem {
	t.Helper()
	_, err := Parse([]byte(src), "test.yaml")
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Parse: got error %v, want a *ValidationError", err)
	}
	return verr.Problems
}

// wantProblem fails unless a problem has path and a message containing msg.
func wantProblem(t *testing.T, ps []Problem, path, msg string) {
	t.Helper()
	for _, p := range ps {
		if p.Path == path && strings.Contains(p.Message, msg) {
			return
		}
	}
	t.Errorf("no problem %q containing %q; got:\n%s", path, msg, (&ValidationError{Problems: ps}).Error())
}
