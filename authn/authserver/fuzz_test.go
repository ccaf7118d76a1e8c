package authserver

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "a b", "a  a", "tools:read tools:write", "\"x\"", "a\tb", "é", " a "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scopes, ok := parseScope(s)
		if !ok {
			return
		}
		for i, sc := range scopes {
			if sc == "" || strings.ContainsFunc(sc, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) {
				t.Errorf("parseScope(%q) accepted scope %q", s, sc)
			}
			if slices.Contains(scopes[:i], sc) {
				t.Errorf("parseScope(%q) repeats %q", s, sc)
			}
		}
		if got, _ := parseScope(joinScopes(scopes)); !slices.Equal(got, scopes) {
			t.Errorf("parseScope(joinScopes(%q)) = %q", scopes, got)
		}
	})
}

func FuzzPKCE(f *testing.F) {
	f.Add(strings.Repeat("a", 43), "")
	f.Add(strings.Repeat("~", 128), "x")
	f.Add(strings.Repeat("a", 42), "")
	f.Fuzz(func(t *testing.T, verifier, challenge string) {
		sum := sha256.Sum256([]byte(verifier))
		right := base64.RawURLEncoding.EncodeToString(sum[:])
		if pkceMatches(verifier, challenge) && challenge != right {
			t.Errorf("pkceMatches(%q, %q) with the wrong challenge", verifier, challenge)
		}
		valid := len(verifier) >= 43 && len(verifier) <= 128 && !strings.ContainsFunc(verifier, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
		})
		if pkceMatches(verifier, right) != valid {
			t.Errorf("pkceMatches(%q, its challenge) = %v, want %v (RFC 7636 §4.1)", verifier, !valid, valid)
		}
		if isS256Challenge(challenge) != (len(challenge) == 43 && isBase64URL(challenge, 0, 43)) {
			t.Errorf("isS256Challenge(%q)", challenge)
		}
	})
}
