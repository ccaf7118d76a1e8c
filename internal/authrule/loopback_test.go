package authrule

import "testing"

func TestIsLoopbackHostPort(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"localhost":           true,
		"LOCALHOST:8080":      true,
		"127.0.0.1":           true,
		"127.1.2.3:80":        true,
		"[::1]:8080":          true,
		"::1":                 true,
		"localhost.:8080":     false, // an FQDN may resolve anywhere
		"127.evil.example:80": false,
		"0.0.0.0:8080":        false,
		"":                    false,
		"mcp.example.com":     false,
	} {
		if got := IsLoopbackHostPort(in); got != want {
			t.Errorf("IsLoopbackHostPort(%q) = %v, want %v", in, got, want)
		}
	}
}
