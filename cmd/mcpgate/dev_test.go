package main

import (
	"strings"
	"testing"
)

func TestDevRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ addr, want string }{
		"unspecified IPv4": {"0.0.0.0:8080", "dev mode serves only loopback addresses (127.0.0.1 or ::1, or localhost); got 0.0.0.0:8080"},
		"unspecified IPv6": {"[::]:8080", "got [::]:8080"},
		"empty host":       {":8080", "got :8080"},
		"private IP":       {"192.168.1.10:8080", "got 192.168.1.10:8080"},
		"host name":        {"example.com:8080", "got example.com:8080"},
		"no port":          {"127.0.0.1", `--addr "127.0.0.1" is not host:port`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, nil, "dev", "--addr", tt.addr)
			if code != exitUsage || stdout != "" || !strings.HasPrefix(stderr, "mcpgate dev: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit code %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

func TestDev(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"IPv4":      "127.0.0.1:0",
		"localhost": "localhost:0",
	}
	for name, addr := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := start(t, newTestEnv(nil), "dev", "--addr", addr)
			checkGateway(t, r.baseURL())
			checkBanner(t, r.out.String(), r.baseURL()+"/mcp")
			if code := r.stop(t); code != exitOK {
				t.Errorf("exit code after cancel = %d, want 0; stderr:\n%s", code, r.err.String())
			}
		})
	}
}

func checkBanner(t *testing.T, banner, endpoint string) {
	t.Helper()
	for _, want := range []string{
		"mcpgate dev — development mode (NOT for production",
		"  MCP endpoint:  " + endpoint + "\n",
		"notes (4 tools) http://127.0.0.1:",
		"hr (2 tools) http://127.0.0.1:",
		"claude mcp add --transport http mcpgate " + endpoint + "\n",
		`{"servers": {"mcpgate": {"type": "http", "url": "` + endpoint + `"}}}`,
		`{"mcpServers": {"mcpgate": {"url": "` + endpoint + `"}}}`,
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
}
