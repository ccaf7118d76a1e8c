package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsage: bad flags exit 2 with a message naming the flag, before any
// connection is tried.
func TestUsage(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		args []string
		want string
	}{
		"rate zero":     {[]string{"--url", "http://127.0.0.1:1/mcp", "--rate", "0/s"}, `--rate "0/s"`},
		"rate garbage":  {[]string{"--url", "http://127.0.0.1:1/mcp", "--rate", "fast"}, `--rate "fast"`},
		"rate huge":     {[]string{"--url", "http://127.0.0.1:1/mcp", "--rate", "1e9"}, `--rate "1e9"`},
		"unknown flag":  {[]string{"--nope"}, "flag provided but not defined"},
		"extra arg":     {[]string{"--url", "http://127.0.0.1:1/mcp", "x"}, `unexpected argument "x"`},
		"bad arguments": {[]string{"--url", "http://127.0.0.1:1/mcp", "--args", "[]"}, "arguments: must be a JSON object"},
		"no url":        {nil, "url: required"},
		"bad era":       {[]string{"--url", "http://127.0.0.1:1/mcp", "--era", "2024-11-05"}, "protocol version"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(t.Context(), c.args, &out, &errOut, func(string) string { return "" })
			const wantCode = 2
			if code != wantCode || !strings.Contains(errOut.String(), c.want) || out.Len() != 0 {
				t.Errorf("exit %d, stderr %q, stdout %q; want %d and %q", code, errOut.String(), out.String(), wantCode, c.want)
			}
		})
	}
}

// TestTokenFromEnv: the token comes from MCPLOAD_TOKEN unless --token says
// otherwise.
func TestTokenFromEnv(t *testing.T) {
	t.Parallel()
	env := func(k string) string {
		if k == "MCPLOAD_TOKEN" {
			return "from-env"
		}
		return ""
	}
	cfg, err := parse([]string{"--url", "u"}, &bytes.Buffer{}, env)
	if err != nil || cfg.Token != "from-env" {
		t.Errorf("token %q, err %v", cfg.Token, err)
	}
	cfg, err = parse([]string{"--url", "u", "--token", "flag"}, &bytes.Buffer{}, env)
	if err != nil || cfg.Token != "flag" {
		t.Errorf("token %q, err %v", cfg.Token, err)
	}
}
