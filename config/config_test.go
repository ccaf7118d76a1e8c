package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	want := &Config{
		Listen:             "127.0.0.1:8080",
		MaxRequestBytes:    4 << 20,
		ShutdownGrace:      Duration(30 * time.Second),
		SessionIdleTimeout: Duration(30 * time.Minute),
		Naming:             Naming{Separator: "__"},
		Auth:               Auth{Leeway: DefaultLeeway, TokenCacheSize: DefaultTokenCacheSize},
		AuthorizationServer: AuthorizationServer{AccessTokenTTL: Duration(5 * time.Minute), RefreshTokenTTL: Duration(24 * time.Hour),
			RefreshMaxLifetime: Duration(7 * 24 * time.Hour), ConsentTTL: Duration(30 * 24 * time.Hour)},
		WebSignIn: WebSignIn{TTL: Duration(8 * time.Hour)},
		Policy:    Policy{Library: PolicyLibraryNone, Timeout: DefaultPolicyTimeout, DecisionLogBuffer: DefaultDecisionLogBuffer},
		Limits: Limits{MaxInitializeBytes: DefaultMaxInitializeBytes, SessionsPerUser: DefaultSessionsPerUser,
			MaxConnections: DefaultMaxConnections, IdleTimeout: DefaultIdleTimeout, BodyReadTimeout: DefaultBodyReadTimeout, MaxUpstreamMessageBytes: DefaultMaxUpstreamMessageBytes},
		Store: Store{Kind: StoreFile},
	}
	if diff := cmp.Diff(want, Default()); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
}

func TestParseAppliesDefaults(t *testing.T) {
	t.Parallel()
	want := Default()
	want.PublicURL = "http://127.0.0.1:8080"
	want.Servers = []Server{{
		Name:      "notes",
		URL:       "https://notes.example/mcp",
		Transport: TransportStreamableHTTP,
		Timeout:   Duration(60 * time.Second),
	}}
	if diff := cmp.Diff(want, mustParse(t, minimal)); diff != "" {
		t.Errorf("Parse(minimal) mismatch (-want +got):\n%s", diff)
	}
}

func TestExplicitZeroKept(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, "shutdown_grace: 0s\nsession_idle_timeout: 0\n"+minimal)
	if cfg.ShutdownGrace != 0 || cfg.SessionIdleTimeout != 0 {
		t.Errorf("got shutdown_grace %v, session_idle_timeout %v; want 0, 0", cfg.ShutdownGrace, cfg.SessionIdleTimeout)
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		yaml      string
		publicURL string
		mcpURL    string
	}{
		"default from listen": {"", "http://127.0.0.1:8080", "http://127.0.0.1:8080/mcp"},
		"listen all hosts":    {"listen: ':9000'\n", "http://localhost:9000", "http://localhost:9000/mcp"},
		"listen ipv6":         {"listen: '[::1]:9000'\n", "http://[::1]:9000", "http://[::1]:9000/mcp"},
		"unspecified ipv6":    {"listen: '[::]:9000'\n", "http://localhost:9000", "http://localhost:9000/mcp"},
		"set":                 {"public_url: https://mcp.example.com\n", "https://mcp.example.com", "https://mcp.example.com/mcp"},
		"trailing slash":      {"public_url: https://mcp.example.com/\n", "https://mcp.example.com", "https://mcp.example.com/mcp"},
		"with path":           {"public_url: https://example.com/gw/\n", "https://example.com/gw", "https://example.com/gw/mcp"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := mustParse(t, tc.yaml+minimal)
			if cfg.PublicURL != tc.publicURL || cfg.MCPURL() != tc.mcpURL {
				t.Errorf("got %q, %q; want %q, %q", cfg.PublicURL, cfg.MCPURL(), tc.publicURL, tc.mcpURL)
			}
		})
	}
}

func TestMCPURLWithoutPublicURL(t *testing.T) {
	t.Parallel()
	if got, want := Default().MCPURL(), "http://127.0.0.1:8080/mcp"; got != want {
		t.Errorf("Default().MCPURL() = %q, want %q", got, want)
	}
}

func TestEffectivePrefix(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		line       string
		wantPrefix *string
		effective  string
	}{
		"omitted": {"", nil, "notes"},
		"empty":   {"    prefix: \"\"\n", ptr(""), ""},
		"set":     {"    prefix: nt\n", ptr("nt"), "nt"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, minimal+tc.line).Servers[0]
			if diff := cmp.Diff(tc.wantPrefix, s.Prefix); diff != "" {
				t.Errorf("Prefix mismatch (-want +got):\n%s", diff)
			}
			if got := s.EffectivePrefix(); got != tc.effective {
				t.Errorf("EffectivePrefix() = %q, want %q", got, tc.effective)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
