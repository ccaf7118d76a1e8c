package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const pkjwtAuth = "{kind: client_credentials, token_url: 'https://login.example/token', client_id: gw, auth_style: private_key_jwt"

func TestPrivateKeyJWTRules(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ yaml, path, msg string }{
		"key missing":          {withAuth(pkjwtAuth + "}"), "servers[0].auth.client_key", "is required with auth_style private_key_jwt"},
		"secret and key":       {withAuth(pkjwtAuth + ", client_key: {value_from_env: K}, client_secret: {value_from_env: S}}"), "servers[0].auth.client_secret", "cannot be set with auth_style private_key_jwt"},
		"key two sources":      {withAuth(pkjwtAuth + ", client_key: {value_from_env: K, value_from_file: /k}}"), "servers[0].auth.client_key", "set exactly one of value_from_env, value_from_file"},
		"key literal":          {withAuth(pkjwtAuth + ", client_key: {value: pem}}"), "servers[0].auth.client_key.value", "unknown key"},
		"key id control":       {withAuth(pkjwtAuth + ", client_key: {value_from_env: K}, client_key_id: \"a\\nb\"}"), "servers[0].auth.client_key_id", "control characters"},
		"audience relative":    {withAuth(pkjwtAuth + ", client_key: {value_from_env: K}, client_assertion_audience: login}"), "servers[0].auth.client_assertion_audience", "is not valid"},
		"key with basic":       {withAuth(ccAuth + ", client_key: {value_from_env: K}}"), "servers[0].auth.client_key", "applies only to auth_style private_key_jwt"},
		"key id with post":     {withAuth(ccAuth + ", auth_style: post, client_key_id: k1}"), "servers[0].auth.client_key_id", "applies only to auth_style private_key_jwt"},
		"audience with basic":  {withAuth(ccAuth + ", client_assertion_audience: 'https://login.example'}"), "servers[0].auth.client_assertion_audience", "applies only to auth_style private_key_jwt"},
		"key with assertion":   {withAuth("{kind: identity_assertion, client_key: {value_from_env: K}}"), "servers[0].auth.client_key", "applies only to kind client_credentials or token_exchange"},
		"key with oauth":       {withAuth("{kind: oauth, client_key_id: k}"), "servers[0].auth.client_key_id", "applies only to kind client_credentials or token_exchange"},
		"tx key missing":       {withAuth(strings.Replace(txAuth, "client_secret: {value_from_env: GW_SECRET}", "auth_style: private_key_jwt", 1) + ", allow_insecure_http: true}"), "servers[0].auth.client_key", "is required"},
		"secret names the way": {withAuth("{kind: client_credentials, token_url: 'https://x/t', client_id: gw}"), "servers[0].auth.client_secret", "or use auth_style private_key_jwt with client_key"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tc.yaml), tc.path, tc.msg)
		})
	}
}

func TestPrivateKeyJWTValid(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, withAuth(pkjwtAuth+", client_key: {value_from_file: /k.pem}, client_key_id: k1, client_assertion_audience: 'https://login.example'}"))
	want := &UpstreamAuth{Kind: AuthClientCredentials, TokenURL: "https://login.example/token", ClientID: "gw", AuthStyle: AuthStylePrivateKeyJWT,
		ClientKey: &Secret{ValueFromFile: "/k.pem"}, ClientKeyID: "k1", ClientAssertionAudience: "https://login.example"}
	if diff := cmp.Diff(want, cfg.Servers[0].Auth); diff != "" {
		t.Errorf("auth (-want +got):\n%s", diff)
	}
	if got := cfg.Servers[0].Auth.ClientAssertionAud(); got != "https://login.example" {
		t.Errorf("ClientAssertionAud = %q", got)
	}
	if got := (&UpstreamAuth{TokenURL: "https://login.example/token"}).ClientAssertionAud(); got != "https://login.example/token" {
		t.Errorf("default ClientAssertionAud = %q, want the token URL", got)
	}
}

// Provisioning reads and parses each client key, and reports what is
// wrong with it at its key path, never quoting it.
func TestProvisionClientKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string][]byte{
		"ec256.pem": pemOf(t, mustKey(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))),
		"ec384.pem": pemOf(t, mustKey(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))),
		"rsa.pem":   pkcs1(mustKey(rsa.GenerateKey(rand.Reader, 2048))),
		"weak.pem":  pkcs1(mustKey(rsa.GenerateKey(rand.Reader, 1024))),
		"ec521.pem": pemOf(t, mustKey(ecdsa.GenerateKey(elliptic.P521(), rand.Reader))),
		"ed.pem":    pemOf(t, ed25519.NewKeyFromSeed(make([]byte, 32))),
		"bad.pem":   []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWdhcmJhZ2U=\n-----END PRIVATE KEY-----\n"),
		"none.pem":  []byte("not a key: hunter2"),
		"cert.pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"ec256.pem", "ec384.pem", "rsa.pem", "weak.pem", "ec521.pem", "ed.pem", "bad.pem", "none.pem", "cert.pem", "missing.pem"}
	var b strings.Builder
	b.WriteString("servers:\n")
	for i, n := range names {
		b.WriteString("  - name: s" + string(rune('a'+i)) + "\n    url: https://a.example/mcp\n" +
			"    auth: " + pkjwtAuth + ", client_key: {value_from_file: " + filepath.Join(dir, n) + "}}\n")
	}
	ps := provisionProblems(t, mustParse(t, b.String()))
	want := map[int]string{
		3: "RSA key of 1024 bits is too small: use at least 2048",
		4: "ECDSA curve P-521 is not supported: use P-256 or P-384",
		5: "key type ed25519.PrivateKey is not supported",
		6: "parse PRIVATE KEY",
		7: "no PEM block",
		8: `PEM block "CERTIFICATE" is not a private key`,
		9: "no such file or directory",
	}
	for i, msg := range want {
		wantProblem(t, ps, "servers["+string(rune('0'+i))+"].auth.client_key.value_from_file", msg)
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), &ValidationError{Problems: ps})
	}
	if msg := (&ValidationError{Problems: ps}).Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "c2VjcmV0") {
		t.Errorf("a key's content is in the error: %q", msg)
	}
}

func mustKey[K any](k K, err error) K {
	if err != nil {
		panic(err)
	}
	return k
}

func pemOf(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func pkcs1(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// FuzzParseClientKey checks that ParseClientKey never panics and accepts
// only the keys it promises.
func FuzzParseClientKey(f *testing.F) {
	f.Add(pemOf(f, mustKey(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))))
	f.Add(pemOf(f, ed25519.NewKeyFromSeed(make([]byte, 32))))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParseClientKey(data)
		if err != nil {
			return
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			if k.N.BitLen() < 2048 {
				t.Fatalf("accepted an RSA key of %d bits", k.N.BitLen())
			}
		case *ecdsa.PrivateKey:
			if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
				t.Fatalf("accepted curve %s", k.Curve.Params().Name)
			}
		default:
			t.Fatalf("accepted a key of type %T", key)
		}
	})
}
