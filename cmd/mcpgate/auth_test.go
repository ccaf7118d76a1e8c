package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/config"
)

// A shared secret missing when the verifier is built is an error naming
// the key path: the HMAC issuer must not silently become an issuer
// verified by discovery with the default algorithms.
func TestVerifierConfigSharedSecretMissing(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.Issuers = []config.Issuer{
		{Issuer: "https://a.example"},
		{Issuer: "https://b.example", Algorithms: []string{"HS256"},
			SharedSecret: &config.Secret{ValueFromFile: filepath.Join(t.TempDir(), "gone")}},
	}
	_, err := verifierConfig(cfg, [][]byte{nil, nil}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "auth.issuers[1].shared_secret") {
		t.Fatalf("verifierConfig = %v, want an error at auth.issuers[1].shared_secret", err)
	}
}
