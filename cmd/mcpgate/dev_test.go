package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/demo"
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
			code, token, stderr := runCLI(t, nil, "dev", "token", "--addr", r.addr.String(), "alice")
			if code != exitOK {
				t.Fatalf("dev token: exit %d: %s", code, stderr)
			}
			checkGateway(t, r.baseURL(), strings.TrimSpace(token), demo.CalendarName)
			checkBanner(t, r.out.String(), r.baseURL()+"/mcp")
			// A rebound name (Host evil.example on 127.0.0.1) gets no token.
			req, _ := http.NewRequest(http.MethodPost, r.baseURL()+"/dev/token", strings.NewReader("user=alice"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Host = "evil.example:" + strconv.Itoa(r.addr.(*net.TCPAddr).Port)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "access_token") {
				t.Errorf("POST /dev/token with Host evil.example: %d %s, want 403", resp.StatusCode, body)
			}
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
		"demo users: alice, bob, carol, mallory",
		"mcpgate dev token alice",
		"  console:       " + strings.TrimSuffix(endpoint, "/mcp") + "/console (sign in as carol",
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

func TestDevTokenErrors(t *testing.T) {
	t.Parallel()
	r := start(t, newTestEnv(nil), "dev", "--addr", "127.0.0.1:0")
	cases := map[string]struct {
		args     []string
		code     int
		inStderr string
	}{
		"unknown user":  {[]string{"dev", "token", "--addr", r.addr.String(), "nobody"}, exitFail, "alice"},
		"no user":       {[]string{"dev", "token", "--addr", r.addr.String()}, exitUsage, "one demo user name"},
		"two users":     {[]string{"dev", "token", "--addr", r.addr.String(), "alice", "bob"}, exitUsage, "one demo user name"},
		"not loopback":  {[]string{"dev", "token", "--addr", "10.0.0.1:8080", "alice"}, exitUsage, "loopback"},
		"nothing there": {[]string{"dev", "token", "--addr", "127.0.0.1:1", "alice"}, exitFail, "is mcpgate dev running?"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, tc.args...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, stdout, stderr, tc.code, tc.inStderr)
			}
		})
	}
}

// The dev configuration is built in code, not loaded: it must validate as a
// loaded one would, since gateway.New does not validate again.
func TestDevConfigValid(t *testing.T) {
	t.Parallel()
	cfg := devConfig("127.0.0.1:8080", []*demo.Server{{Name: "notes", URL: "http://127.0.0.1:9000/mcp"}, {Name: "hr", URL: "http://127.0.0.1:9001/mcp"}, {Name: demo.CalendarName, URL: "http://127.0.0.1:9002/mcp"}},
		devFiles{store: "/tmp/store.db", vaultKeys: "/tmp/vault.keys", cookieKeys: "/tmp/cookie.keys"})
	if err := errors.Join(cfg.Validate(), cfg.RequireAuth(), cfg.RequireStore()); err != nil {
		t.Errorf("devConfig does not validate:\n%v", err)
	}
}
