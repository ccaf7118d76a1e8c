package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// exampleSecretPath is the value_from_file path shown in the example; the
// test points it at a temporary file.
const exampleSecretPath = "/var/run/secrets/tickets/client-secret"

func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../mcpgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte(exampleSecretPath)); n != 1 {
		t.Fatalf("example mentions %s %d times, want once", exampleSecretPath, n)
	}
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte(exampleSecretPath), []byte(secret))
	t.Setenv("NOTES_API_KEY", "k3y")

	cfg, err := Parse(data, "mcpgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantExample(secret), cfg); diff != "" {
		t.Errorf("example config mismatch (-want +got):\n%s", diff)
	}
	if got, want := cfg.MCPURL(), "https://mcp.example.com/mcp"; got != want {
		t.Errorf("MCPURL() = %q, want %q", got, want)
	}
	hdr, err := cfg.Servers[0].ResolveHeaders()
	if err != nil || hdr.Get("X-Api-Key") != "k3y" || hdr.Get("X-Client") != "mcpgate" {
		t.Errorf("ResolveHeaders() = %v, %v", hdr, err)
	}
	if _, err := cfg.Provision(); err != nil {
		t.Errorf("Provision: %v", err)
	}
}

func wantExample(secret string) *Config {
	return &Config{
		Listen:             "127.0.0.1:8080",
		PublicURL:          "https://mcp.example.com",
		MaxRequestBytes:    4 << 20,
		ShutdownGrace:      Duration(30 * time.Second),
		SessionIdleTimeout: Duration(30 * time.Minute),
		Naming:             Naming{Separator: "__"},
		Servers: []Server{{
			Name:      "notes",
			URL:       "https://notes.internal.example/mcp",
			Transport: TransportStreamableHTTP,
			Timeout:   Duration(30 * time.Second),
			Prefix:    ptr("notes"),
			Labels:    map[string]string{"env": "prod", "team": "finance"},
			Auth: &UpstreamAuth{Kind: AuthHeaders, Headers: []Header{
				{Name: "X-Api-Key", ValueFromEnv: "NOTES_API_KEY"},
				{Name: "X-Client", Value: "mcpgate"},
			}},
		}, {
			Name:      "tickets",
			URL:       "https://tickets.internal.example/mcp",
			Transport: TransportSSE,
			Timeout:   Duration(2 * time.Minute),
			Labels:    map[string]string{"env": "prod"},
			Auth: &UpstreamAuth{Kind: AuthClientCredentials, TokenURL: "https://login.example.com/oauth2/token",
				ClientID: "mcpgate-tickets", ClientSecret: &Secret{ValueFromFile: secret},
				Scopes: []UpstreamScope{{Name: "tickets.read", Level: ScopeLevelRead, Description: "Read tickets"},
					{Name: "tickets.write", Level: ScopeLevelWrite}}, Resource: "https://tickets.internal.example/mcp",
				AuthStyle: AuthStyleBasic},
		}},
		Auth: Auth{
			Issuers: []Issuer{
				{Issuer: "https://login.example.com/realms/corp", Claims: Claims{Groups: "realm_access.roles"}},
				{Issuer: "https://workloads.example.com", Audiences: []string{"mcpgate"}, Algorithms: []string{"ES256"}},
			},
			Leeway:          Duration(30 * time.Second),
			ScopesSupported: []string{"mcp"},
			ChallengeScopes: []string{"mcp"},
			AllowedOrigins:  []string{"https://claude.ai"},
			TokenCacheSize:  10000,
		},
		AuthorizationServer: Default().AuthorizationServer,
		WebSignIn:           Default().WebSignIn,
		Limits: Limits{MaxInitializeBytes: 64 << 10, SessionsPerUser: 32, MaxConnections: 10000,
			IdleTimeout: Duration(2 * time.Minute), BodyReadTimeout: Duration(30 * time.Second), MaxUpstreamMessageBytes: 16 << 20},
		Policy: Policy{Dir: "rego", Library: PolicyLibraryNone, Timeout: Duration(time.Second), DecisionLog: "stdout", DecisionLogBuffer: 10000,
			DecisionLogWhenFull: DecisionLogDrop},
		Store:   Store{Kind: StoreFile},
		Console: Console{RecentDecisions: DefaultConsoleRecentDecisions},
	}
}

// TestExampleScopeCatalogue checks the commented scope catalogue of the
// example: uncommented, it is valid and reads as shown.
func TestExampleScopeCatalogue(t *testing.T) {
	data, err := os.ReadFile("../mcpgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for line := range strings.Lines(string(data)) {
		switch {
		case line == "# scopes:\n":
			block = append(block, "scopes:\n")
		case len(block) > 0 && strings.HasPrefix(line, "#   "):
			block = append(block, strings.TrimPrefix(line, "# "))
		case len(block) > 0:
			cfg := mustParse(t, minimal+"  - name: tickets\n    url: https://tickets.example/mcp\n"+strings.Join(block, ""))
			want := []Scope{
				{Name: "notes:read", Description: "Read your notes", Server: "notes", Level: ScopeLevelRead},
				{Name: "notes:write", Description: "Read and change your notes, without deleting them", Server: "notes", Level: ScopeLevelWrite},
				{Name: "tickets", Description: "Everything in the ticket system", Server: "tickets"},
			}
			if diff := cmp.Diff(want, cfg.Scopes); diff != "" {
				t.Errorf("example catalogue (-want +got):\n%s", diff)
			}
			return
		}
	}
	t.Fatal("mcpgate.example.yaml has no commented scopes: block")
}
