package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const webIssuer = `
public_url: https://mcp.example.com
session_key_file: /keys/sessions
auth:
  issuers:
    - issuer: https://login.example.com
      audiences: [mcpgate]
      claims: {groups: roles}
`

func TestWebSignInValidation(t *testing.T) {
	t.Parallel()
	const web = "web_sign_in: {enabled: true, client_id: gw, client_secret: {value_from_env: WEB_SECRET}"
	twoIssuers := strings.Replace(webIssuer, "issuers:\n", "issuers:\n    - issuer: https://workloads.example.com\n", 1)
	cases := map[string]struct{ src, path, msg string }{
		"no client":           {webIssuer + "web_sign_in: {enabled: true}\n", "web_sign_in.client_id", "is required: the gateway's client at https://login.example.com, with redirect URI https://mcp.example.com/signin/callback"},
		"no secret":           {webIssuer + "web_sign_in: {enabled: true, client_id: gw}\n", "web_sign_in.client_secret", "is required with client_id"},
		"two secret sources":  {webIssuer + "web_sign_in: {enabled: true, client_id: gw, client_secret: {value_from_env: A, value_from_file: /b}}\n", "web_sign_in.client_secret", "exactly one"},
		"which issuer":        {twoIssuers + web + "}\n", "web_sign_in.issuer", "auth.issuers lists 2 issuers; name the one"},
		"untrusted issuer":    {webIssuer + web + ", issuer: https://evil.example.com}\n", "web_sign_in.issuer", "neither one of auth.issuers"},
		"no openid":           {webIssuer + web + ", scopes: [email]}\n", "web_sign_in.scopes", "must include openid"},
		"reserved parameter":  {webIssuer + web + ", auth_params: {redirect_uri: x}}\n", "web_sign_in.auth_params.redirect_uri", "set by the sign-in flow"},
		"TTL too long":        {webIssuer + web + ", ttl: 200h}\n", "web_sign_in.ttl", "between 1s and 168h"},
		"zero TTL":            {webIssuer + web + ", ttl: 0s}\n", "web_sign_in.ttl", "between"},
		"no keys":             {strings.Replace(webIssuer, "session_key_file: /keys/sessions\n", "", 1) + web + "}\n", "web_sign_in.cookie_key_file", "is required without session_key_file"},
		"cookies over http":   {strings.Replace(webIssuer, "https://mcp.example.com", "http://mcp.example.com", 1) + web + "}\n", "public_url", "must be https for web_sign_in"},
		"unknown key":         {webIssuer + web + ", cookie_keys: x}\n", "web_sign_in.cookie_keys", "unknown key"},
		"as mode, other idp":  {asMinimal + webIssuer + web + ", issuer: https://other.example.com}\n", "web_sign_in.issuer", "neither"},
		"as idp without sets": {strings.Replace(asMinimal, "    client_id: mcpgate\n", "", 1) + webIssuer + "web_sign_in: {enabled: true}\n", "web_sign_in.client_id", "is required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tc.src+minimal), tc.path, tc.msg)
		})
	}
	// Off, nothing is checked.
	mustParse(t, minimal+"web_sign_in: {client_id: gw}\n")
}

func TestWebSignInProvider(t *testing.T) {
	t.Parallel()
	secret := &Secret{ValueFromEnv: "WEB_SECRET"}
	cases := map[string]struct {
		src  string
		want WebSignInProvider
	}{
		"the only issuer": {webIssuer + "web_sign_in: {enabled: true, client_id: gw, client_secret: {value_from_env: WEB_SECRET}}\n",
			WebSignInProvider{Issuer: "https://login.example.com", Claims: Claims{Groups: "roles"}, ClientID: "gw", ClientSecret: secret,
				Scopes: DefaultIdPScopes}},
		"a named issuer": {strings.Replace(webIssuer, "issuers:\n", "issuers:\n    - issuer: https://workloads.example.com\n", 1) +
			"web_sign_in: {enabled: true, issuer: 'https://login.example.com', client_id: gw, client_secret: {value_from_env: WEB_SECRET}, scopes: [openid, groups], auth_params: {prompt: login}}\n",
			WebSignInProvider{Issuer: "https://login.example.com", Claims: Claims{Groups: "roles"}, ClientID: "gw", ClientSecret: secret,
				Scopes: []string{"openid", "groups"}, AuthParams: map[string]string{"prompt": "login"}}},
		"the authorization server's IdP": {strings.Replace(asMinimal, "    client_secret:", "    claims: {groups: grp}\n    scopes: [openid, groups]\n    client_secret:", 1) +
			"public_url: https://mcp.example.com\nsession_key_file: /k\nweb_sign_in: {enabled: true}\n",
			WebSignInProvider{Issuer: "https://login.example.com", Claims: Claims{Groups: "grp"}, ClientID: "mcpgate",
				ClientSecret: &Secret{ValueFromEnv: "IDP_SECRET"}, Scopes: []string{"openid", "groups"}}},
	}
	for name, tc := range cases {
		got, ok := mustParse(t, tc.src+minimal).WebSignInProvider()
		if !ok {
			t.Errorf("%s: no provider", name)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: provider (-want +got):\n%s", name, diff)
		}
	}
	if _, ok := mustParse(t, minimal).WebSignInProvider(); ok {
		t.Error("a provider while web_sign_in is off")
	}
}

func TestProvisionWebCookieKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, k2, k3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	keyFile := func(name string, keys ...[]byte) string { return writeKeyFile(t, dir, name, keys...) }
	secret := writeTestFile(t, dir, "secret", "s3cret\n")
	base := strings.Replace(webIssuer, "/keys/sessions", keyFile("sessions", k1, k2), 1) + "store: {path: /x.db}\n" + minimal +
		"web_sign_in:\n  enabled: true\n  client_id: gw\n  client_secret: {value_from_file: " + secret + "}\n"

	derived, err := mustParse(t, base).Provision()
	if err != nil {
		t.Fatal(err)
	}
	if len(derived.WebCookieKeys) != 2 {
		t.Fatalf("derived %d keys from 2 session keys", len(derived.WebCookieKeys))
	}
	for i, k := range derived.WebCookieKeys {
		if len(k) != SessionKeySize || bytes.Equal(k, k1) || bytes.Equal(k, k2) {
			t.Errorf("derived key %d is not a key of its own", i+1)
		}
	}
	if again, _ := mustParse(t, base).Provision(); !cmp.Equal(again.WebCookieKeys, derived.WebCookieKeys) {
		t.Error("derivation is not deterministic: replicas would not share cookies")
	}

	own, err := mustParse(t, base+"  cookie_key_file: "+keyFile("cookies", k3)+"\n").Provision()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{k3}, own.WebCookieKeys); diff != "" {
		t.Errorf("WebCookieKeys (-want +got):\n%s", diff)
	}

	ps := provisionProblems(t, mustParse(t, base+"  cookie_key_file: "+keyFile("shared", k3, k2)+"\n"))
	wantProblem(t, ps, "web_sign_in.cookie_key_file", "key 2 is also a key of session_key_file")
	ps = provisionProblems(t, mustParse(t, strings.Replace(base, secret, dir+"/missing", 1)))
	wantProblem(t, ps, "web_sign_in.client_secret", "cannot read")
}
