package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const asMinimal = `
store: {path: /var/lib/mcpgate/store.db}
authorization_server:
  enabled: true
  idp:
    issuer: https://login.example.com
    client_id: mcpgate
    client_secret: {value_from_env: IDP_SECRET}
  signing_keys: [{value_from_file: /keys/k1.pem}]
`

func TestAuthorizationServerValid(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, asMinimal+minimal)
	as := cfg.AuthorizationServer
	if !as.Enabled || !as.DynamicRegistrationEnabled() || !as.CIMDEnabled() {
		t.Errorf("enabled, dynamic registration, CIMD = %v, %v, %v; want all true by default", as.Enabled, as.DynamicRegistrationEnabled(), as.CIMDEnabled())
	}
	if got := strings.Join(as.IdP.EffectiveScopes(), " "); got != "openid email profile" {
		t.Errorf("IdP scopes = %q, want the default openid email profile", got)
	}
	if as.AccessTokenTTL != DefaultAccessTokenTTL || as.RefreshTokenTTL != DefaultRefreshTokenTTL {
		t.Errorf("ttls = %v, %v; want the defaults", as.AccessTokenTTL, as.RefreshTokenTTL)
	}
	if err := cfg.RequireAuth(); err != nil {
		t.Errorf("RequireAuth in authorization-server mode without issuers: %v", err)
	}
	if err := cfg.RequireStore(); err != nil {
		t.Errorf("RequireStore with store.path: %v", err)
	}
}

func TestAuthorizationServerProblems(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ yaml, path, msg string }{
		"no issuer":      {"authorization_server: {enabled: true, idp: {client_id: x, client_secret: {value_from_env: S}}, signing_keys: [{value_from_env: K}]}\n", "authorization_server.idp.issuer", "is required"},
		"http issuer":    {"authorization_server: {enabled: true, idp: {issuer: 'http://idp.example.com', client_id: x, client_secret: {value_from_env: S}}, signing_keys: [{value_from_env: K}]}\n", "authorization_server.idp.issuer", "must be https"},
		"no secret":      {"authorization_server: {enabled: true, idp: {issuer: 'https://idp.example', client_id: x}, signing_keys: [{value_from_env: K}]}\n", "authorization_server.idp.client_secret", "is required"},
		"no keys":        {"authorization_server: {enabled: true, idp: {issuer: 'https://idp.example', client_id: x, client_secret: {value_from_env: S}}}\n", "authorization_server.signing_keys", "at least one key"},
		"two sources":    {"authorization_server: {enabled: true, idp: {issuer: 'https://idp.example', client_id: x, client_secret: {value_from_env: S}}, signing_keys: [{value_from_env: K, value_from_file: /k}]}\n", "authorization_server.signing_keys[0]", "exactly one"},
		"no openid":      {"authorization_server: {enabled: true, idp: {issuer: 'https://idp.example', client_id: x, client_secret: {value_from_env: S}, scopes: [email]}, signing_keys: [{value_from_env: K}]}\n", "authorization_server.idp.scopes", "must include openid"},
		"reserved param": {"authorization_server: {enabled: true, idp: {issuer: 'https://idp.example', client_id: x, client_secret: {value_from_env: S}, auth_params: {redirect_uri: 'https://evil'}}, signing_keys: [{value_from_env: K}]}\n", "authorization_server.idp.auth_params.redirect_uri", "set by the sign-in flow"},
		"long access":    {"authorization_server: {enabled: true, access_token_ttl: 2h, idp: {issuer: 'https://idp.example', client_id: x, client_secret: {value_from_env: S}}, signing_keys: [{value_from_env: K}]}\n", "authorization_server.access_token_ttl", "between 1s and 1h"},
		"url client id":  {"authorization_server: {enabled: true, idp: {issuer: 'https://idp.example', client_id: x, client_secret: {value_from_env: S}}, signing_keys: [{value_from_env: K}], clients: [{client_id: 'https://c.example/m', redirect_uris: ['https://c.example/cb']}]}\n", "authorization_server.clients[0].client_id", "must not be a URL"},
		"no redirect":    {"authorization_server: {enabled: true, idp: {issuer: 'https://idp.example', client_id: x, client_secret: {value_from_env: S}}, signing_keys: [{value_from_env: K}], clients: [{client_id: c}]}\n", "authorization_server.clients[0].redirect_uris", "at least one"},
		"dup client":     {"authorization_server: {enabled: true, idp: {issuer: 'https://idp.example', client_id: x, client_secret: {value_from_env: S}}, signing_keys: [{value_from_env: K}], clients: [{client_id: c, redirect_uris: ['https://c/cb']}, {client_id: c, redirect_uris: ['https://c/cb']}]}\n", "authorization_server.clients[1].client_id", "listed once"},
		"fragment":       {"authorization_server: {enabled: true, idp: {issuer: 'https://idp.example', client_id: x, client_secret: {value_from_env: S}}, signing_keys: [{value_from_env: K}], clients: [{client_id: c, redirect_uris: ['https://c/cb#x']}]}\n", "authorization_server.clients[0].redirect_uris[0]", "without fragment"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tt.yaml+minimal), tt.path, tt.msg)
		})
	}
}

func TestAuthorizationServerNeedsStore(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, strings.Replace(asMinimal, "store: {path: /var/lib/mcpgate/store.db}\n", "", 1)+minimal)
	err := cfg.RequireStore()
	if err == nil || !strings.Contains(err.Error(), "authorization_server keeps registrations") {
		t.Fatalf("RequireStore without a store in authorization-server mode = %v, want a refusal naming the store", err)
	}
}

func TestAuthorizationServerDisabledIgnored(t *testing.T) {
	t.Parallel()
	// A section that is switched off is not checked: an operator may keep a
	// half-written one while trying the mode out.
	cfg := mustParse(t, "authorization_server: {idp: {issuer: 'http://x'}}\n"+minimal)
	if cfg.AuthorizationServer.Enabled {
		t.Fatal("enabled without enabled: true")
	}
}

func TestAuthorizationServerProvision(t *testing.T) {
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalECPrivateKey(p384)
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	t.Setenv("IDP_SECRET", "s3cret")

	cfg := mustParse(t, strings.Replace(asMinimal, "/keys/k1.pem", good, 1)+minimal)
	prov, err := cfg.Provision()
	if err != nil {
		t.Fatal(err)
	}
	as := prov.AuthorizationServer
	if as == nil || as.IdPClientSecret != "s3cret" || len(as.SigningKeys) != 1 {
		t.Fatalf("provisioned = %+v, want the IdP secret and one key", as)
	}
	if k, ok := as.SigningKeys[0].(*ecdsa.PrivateKey); !ok || !k.Equal(ec) {
		t.Errorf("signing key = %T, want the P-256 key of the file", as.SigningKeys[0])
	}

	for name, tt := range map[string]struct {
		path, msg string
	}{
		"small rsa":  {write("small.pem", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}), "too small"},
		"p384":       {write("p384.pem", &pem.Block{Type: "EC PRIVATE KEY", Bytes: p384DER}), "P-384 is not supported"},
		"two blocks": {write("two.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}, &pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "more than one PEM block"},
		"not pem":    {writeRaw(t, dir, "junk.pem", "not a key"), "no PEM block"},
		"public key": {write("pub.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), "is not a private key"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := mustParse(t, strings.Replace(asMinimal, "/keys/k1.pem", tt.path, 1)+minimal)
			_, err := cfg.Provision()
			if err == nil || !strings.Contains(err.Error(), "authorization_server.signing_keys[0]") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Provision = %v, want a problem at authorization_server.signing_keys[0] containing %q", err, tt.msg)
			}
		})
	}
}

func writeRaw(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuthorizationServerAdvertisedScopes(t *testing.T) {
	t.Parallel()
	src := asMinimal + "scopes: [{name: notes:read, server: notes, level: read}]\nauth: {scopes_supported: [notes:read, mcp], challenge_scopes: [mcp]}\n" + minimal
	ps := problemsOf(t, src)
	wantProblem(t, ps, "auth.scopes_supported[1]", `"mcp" is not in the scope catalogue`)
	wantProblem(t, ps, "auth.challenge_scopes[0]", `"mcp" is not in the scope catalogue`)
	if len(ps) != 2 {
		t.Errorf("problems: %v, want the two scopes outside the catalogue only", ps)
	}
}
