package main

import (
	"regexp"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI(t, nil, "version")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	if re := regexp.MustCompile(`^mcpgate \S+ \(commit \S+, built with go\S+\)\n$`); !re.MatchString(stdout) {
		t.Errorf("stdout = %q, want it to match %s", stdout, re)
	}
}
