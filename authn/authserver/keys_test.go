package authserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
)

// Every key type New accepts signs tokens the gateway's verifier accepts
// through IssuerConfig; the others are refused.
func TestKeyTypes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, key := range map[string]crypto.Signer{"RSA": rsaKey, "Ed25519": edKey, "ECDSA P-256": newKey(t)} {
		opts := h.opts
		opts.Keys = []crypto.Signer{key}
		s := h.newServer(opts)
		tok, _, _, err := s.IssueDirect(t.Context(), Subject{Sub: "alice"}, "script", []string{"tools:read"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if id, err := h.verifier(s).Verify(t.Context(), tok); err != nil || id.Subject != "alice" {
			t.Errorf("%s: verify: %v", name, err)
		}
	}
	opts := h.opts
	opts.Keys = []crypto.Signer{p384}
	if _, err := New(opts); err == nil || !strings.Contains(err.Error(), "P-384") {
		t.Errorf("New with a P-384 key: %v, want refused", err)
	}
	opts.Keys = []crypto.Signer{rsaKey, rsaKey}
	if _, err := New(opts); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("New with a key twice: %v, want refused", err)
	}
}

func TestNewRefusesOptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := map[string]struct {
		edit func(*Options)
		want []string
	}{
		"http issuer":        {edit: func(o *Options) { o.Issuer = "http://gateway.example" }, want: []string{"must be https"}},
		"trailing slash":     {edit: func(o *Options) { o.Issuer += "/" }, want: []string{"trailing slash"}},
		"not a URL":          {edit: func(o *Options) { o.Issuer = "::" }, want: []string{"absolute URL"}},
		"no openid":          {edit: func(o *Options) { o.IdP.Scopes = []string{"email"} }, want: []string{"openid"}},
		"bad static client":  {edit: func(o *Options) { o.Clients[0].RedirectURIs = []string{"javascript:x"} }, want: []string{`client "app"`}},
		"refresh lifetimes":  {edit: func(o *Options) { o.RefreshMaxLifetime = o.RefreshTokenTTL / 2 }, want: []string{"lifetimes"}},
		"everything missing": {edit: func(o *Options) { *o = Options{Issuer: o.Issuer} }, want: []string{"resource", "store", "granter", "idp", "keys", "lifetimes"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := h.opts
			opts.Clients = append([]StaticClient{}, h.opts.Clients...)
			opts.Clients[0].RedirectURIs = append([]string{}, opts.Clients[0].RedirectURIs...)
			tc.edit(&opts)
			_, err := New(opts)
			for _, want := range tc.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("New: %v, want an error about %s", err, want)
				}
			}
		})
	}
}
