package connections

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
)

// BenchmarkToken is what a call to an upstream of auth kind oauth pays for
// its token: a read from the embedded store and an AES-256-GCM open, per
// request to the upstream.
func BenchmarkToken(b *testing.B) {
	st, vault := fileVault(b, 1)
	m, err := New(Options{Upstreams: []Upstream{{Name: "calendar", URL: "https://calendar.example/mcp"}},
		Vault: vault, Store: st, BaseURL: "https://mcp.example.com",
		Identity: signedIn,
		Scopes:   func(context.Context, string, *authn.Identity) ([]string, error) { return nil, nil }})
	if err != nil {
		b.Fatal(err)
	}
	id := employees["alice"]
	ctx := context.Background()
	if err := m.save(ctx, id, "calendar", &record{AccessToken: string(bytes.Repeat([]byte{'t'}, 1200)), TokenType: "Bearer",
		RefreshToken: "r", Expiry: time.Now().Add(time.Hour), Scopes: []string{"calendar.read"}, Connected: time.Now()}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Token(ctx, "calendar", id, []string{"calendar.read"}); err != nil {
			b.Fatal(err)
		}
	}
}
