package devidp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// verifier is how the gateway verifies: go-oidc, the provider's JWKS, and
// the gateway's resource URL as the audience.
func (h *harness) verifier(ctx context.Context) *oidc.IDTokenVerifier {
	return oidc.NewVerifier(h.issuer, oidc.NewRemoteKeySet(ctx, h.issuer+"/jwks"), &oidc.Config{
		ClientID: h.audience,
		Now:      h.clock.now,
	})
}

// verifyClaims verifies tok as the gateway would and returns its claims.
func (h *harness) verifyClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	idt, err := h.verifier(t.Context()).Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestTokenClaims(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := map[string]struct {
		email  string
		groups []any
	}{
		"alice":   {"alice@example.com", []any{"engineering"}},
		"bob":     {"bob@example.com", []any{"hr"}},
		"carol":   {"carol@example.com", []any{"admin"}},
		"mallory": {"mallory@example.com", []any{}},
	}
	for user, tc := range cases {
		t.Run(user, func(t *testing.T) {
			tok, ttl, err := h.p.Token(user)
			if err != nil {
				t.Fatalf("Token(%q): %v", user, err)
			}
			if ttl != time.Hour {
				t.Errorf("ttl = %v, want 1h", ttl)
			}
			got := h.verifyClaims(t, tok)
			now := float64(h.clock.now().Unix())
			want := map[string]any{
				"iss": h.issuer, "sub": user, "aud": []any{h.audience},
				"azp": DevClientID, "client_id": DevClientID,
				"iat": now, "nbf": now, "exp": now + 3600,
				"email": tc.email, "name": user, "groups": tc.groups, "scope": "mcp",
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "jti" })); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			if jti, _ := got["jti"].(string); jti == "" {
				t.Error("no jti")
			}
		})
	}
}

func TestTokenHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok, _, err := h.p.Token("alice")
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.Signatures[0].Header
	if hdr.KeyID == "" || hdr.ExtraHeaders["typ"] != "at+jwt" {
		t.Errorf("header: kid %q, typ %v; want a kid and at+jwt", hdr.KeyID, hdr.ExtraHeaders["typ"])
	}
}

func TestTokenRefusedByOtherAudienceAndAfterExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok, _, err := h.p.Token("bob")
	if err != nil {
		t.Fatal(err)
	}
	other := oidc.NewVerifier(h.issuer, oidc.NewRemoteKeySet(t.Context(), h.issuer+"/jwks"), &oidc.Config{ClientID: "http://127.0.0.1:1/other", Now: h.clock.now})
	if _, err := other.Verify(t.Context(), tok); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Errorf("verify for another audience: err = %v, want an audience error", err)
	}
	h.clock.advance(time.Hour + time.Second)
	var expired *oidc.TokenExpiredError
	if _, err := h.verifier(t.Context()).Verify(t.Context(), tok); !errors.As(err, &expired) {
		t.Errorf("verify after expiry: err = %v, want TokenExpiredError", err)
	}
}

func TestTokenUnknownUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, _, err := h.p.Token("eve"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("Token(eve) err = %v, want ErrUnknownUser", err)
	}
}
