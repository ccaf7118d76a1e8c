package main

import (
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		"no args":             {nil, exitUsage, "", "usage: mcpgate COMMAND"},
		"help":                {[]string{"help"}, exitOK, "usage: mcpgate COMMAND", ""},
		"-h":                  {[]string{"-h"}, exitOK, "usage: mcpgate COMMAND", ""},
		"--help":              {[]string{"--help"}, exitOK, "  validate     check a configuration file", ""},
		"help serve":          {[]string{"help", "serve"}, exitOK, "usage: mcpgate serve --config FILE", ""},
		"help unknown":        {[]string{"help", "frob"}, exitUsage, "", `unknown command "frob"`},
		"serve -h":            {[]string{"serve", "-h"}, exitOK, "-log-format", ""},
		"unknown command":     {[]string{"frob"}, exitUsage, "", `mcpgate: unknown command "frob"`},
		"unknown global flag": {[]string{"--frob"}, exitUsage, "", `mcpgate: unknown flag "--frob"`},
		"unknown flag":        {[]string{"validate", "--frob"}, exitUsage, "", "flag provided but not defined: -frob"},
		"stray argument":      {[]string{"version", "extra"}, exitUsage, "", `unexpected argument "extra"`},
		"bad log level":       {[]string{"serve", "--config", "x.yaml", "--log-level", "loud"}, exitUsage, "", "must be debug, info, warn or error"},
		"bad log format":      {[]string{"dev", "--log-format", "xml"}, exitUsage, "", "must be json or text"},
		"serve no config":     {[]string{"serve"}, exitUsage, "", "mcpgate serve: --config is required"},
		"validate no config":  {[]string{"validate"}, exitUsage, "", "mcpgate validate: --config is required"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, nil, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) || (tt.wantStdout == "" && stdout != "") {
				t.Errorf("stdout = %q, want it to contain %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) || (tt.wantStderr == "" && stderr != "") {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	t.Parallel()
	_, stdout, _ := runCLI(t, nil, "help")
	for _, c := range commands() {
		if !strings.Contains(stdout, c.name+" ") || !strings.Contains(stdout, c.summary) {
			t.Errorf("usage lacks %s: %s", c.name, c.summary)
		}
	}
}
