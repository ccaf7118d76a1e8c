package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withAuth returns a configuration whose one server has the given auth
// mapping (a YAML flow mapping).
func withAuth(auth string) string { return server("    auth: " + auth + "\n") }

const txAuth = "{kind: token_exchange, token_url: 'http://127.0.0.1:9/token', client_id: gw, client_secret: {value_from_env: GW_SECRET}"

const ccAuth = "{kind: client_credentials, token_url: 'https://login.example/token', client_id: gw, client_secret: {value_from_env: GW_SECRET}"

func TestUpstreamAuthRules(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ yaml, path, msg string }{
		"kind missing":           {withAuth("{headers: [{name: X-A, value: a}]}"), "servers[0].auth.kind", "is required: use headers, client_credentials, token_exchange, identity_assertion or oauth"},
		"kind unknown":           {withAuth("{kind: mtls}"), "servers[0].auth.kind", `"mtls" is not a kind of upstream credentials`},
		"tx token_url missing":   {withAuth("{kind: token_exchange, client_id: gw, client_secret: {value_from_env: S}}"), "servers[0].auth.token_url", "is required"},
		"tx client_id missing":   {withAuth("{kind: token_exchange, token_url: 'https://x/t', client_secret: {value_from_env: S}}"), "servers[0].auth.client_id", "is required"},
		"tx secret missing":      {withAuth("{kind: token_exchange, token_url: 'https://x/t', client_id: gw}"), "servers[0].auth.client_secret", "is required"},
		"tx token_url http":      {withAuth(txAuth + "}"), "servers[0].auth.token_url", "must be https"},
		"tx subject type":        {withAuth(txAuth + ", allow_insecure_http: true, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token'}"), "servers[0].auth.subject_token_type", `is not supported: use urn:ietf:params:oauth:token-type:access_token (the default) or urn:ietf:params:oauth:token-type:jwt`},
		"tx reserved param":      {withAuth(txAuth + ", allow_insecure_http: true, token_params: {subject_token: x}}"), "servers[0].auth.token_params.subject_token", "cannot be set: the gateway sets subject_token itself"},
		"tx reserved param case": {withAuth(txAuth + ", allow_insecure_http: true, token_params: {Scope: x}}"), "servers[0].auth.token_params.Scope", "cannot be set"},
		"tx grant_type param":    {withAuth(txAuth + ", allow_insecure_http: true, token_params: {grant_type: password}}"), "servers[0].auth.token_params.grant_type", "cannot be set"},
		"tx param name":          {withAuth(txAuth + ", allow_insecure_http: true, token_params: {'a b': x}}"), "servers[0].auth.token_params.a b", "is not a valid parameter name"},
		"tx param value":         {withAuth(txAuth + ", allow_insecure_http: true, token_params: {a: \"x\\ny\"}}"), "servers[0].auth.token_params.a", "control characters"},
		"tx key with cc":         {withAuth(ccAuth + ", subject_token_type: 'urn:ietf:params:oauth:token-type:jwt'}"), "servers[0].auth.subject_token_type", "applies only to kind token_exchange"},
		"token_params with cc":   {withAuth(ccAuth + ", token_params: {connector_id: x}}"), "servers[0].auth.token_params", "applies only to kind token_exchange"},
		"ttl with tx":            {withAuth(txAuth + ", allow_insecure_http: true, ttl: 1m}"), "servers[0].auth.ttl", "applies only to kind identity_assertion"},
		"oauth without vault":    {withAuth("{kind: oauth}"), "servers[0].auth.kind", "oauth needs store.vault_key_file"},
		"oauth without web":      {withAuth("{kind: oauth}"), "servers[0].auth.kind", "web_sign_in (enabled: true): employees open the connect page"},
		"oauth as http":          {withAuth("{kind: oauth, authorization_server: 'http://login.example'}"), "servers[0].auth.authorization_server", "must be https"},
		"oauth secret alone":     {withAuth("{kind: oauth, client_secret: {value_from_env: S}}"), "servers[0].auth.client_secret", "needs client_id"},
		"oauth client, no as":    {withAuth("{kind: oauth, client_id: gw}"), "servers[0].auth.authorization_server", "is required with client_id"},
		"oauth token_url":        {withAuth("{kind: oauth, token_url: 'https://x/t'}"), "servers[0].auth.token_url", "applies only to kind client_credentials or token_exchange"},
		"oauth as with cc":       {withAuth(ccAuth + ", authorization_server: 'https://x'}"), "servers[0].auth.authorization_server", "applies only to kind oauth"},
		"oauth scope level":      {withAuth("{kind: oauth, scopes: [{name: repo, level: owner}]}"), "servers[0].auth.scopes[0].level", `"owner" is not a level`},
		"both headers and auth":  {server("    headers: [{name: X-A, value: a}]\n    auth: {kind: headers, headers: [{name: X-B, value: b}]}\n"), "servers[0].headers", "cannot be set together with auth: move the headers to auth.headers"},
		"auth header reserved":   {withAuth("{kind: headers, headers: [{name: Host, value: a}]}"), "servers[0].auth.headers[0].name", "cannot be set"},
		"auth header sources":    {withAuth("{kind: headers, headers: [{name: X-A}]}"), "servers[0].auth.headers[0]", "set exactly one of"},
		"headers with cc":        {withAuth(ccAuth + ", headers: [{name: X-A, value: a}]}"), "servers[0].auth.headers", "applies only to kind headers"},
		"cc key with headers":    {withAuth("{kind: headers, token_url: 'https://x/t', headers: [{name: X-A, value: a}]}"), "servers[0].auth.token_url", "applies only to kind client_credentials"},
		"token_url missing":      {withAuth("{kind: client_credentials, client_id: gw, client_secret: {value_from_env: S}}"), "servers[0].auth.token_url", "is required"},
		"token_url http":         {withAuth(strings.Replace(ccAuth, "https://login.example", "http://login.example", 1) + "}"), "servers[0].auth.token_url", "must be https (http only on a loopback address with allow_insecure_http set)"},
		"token_url http allowed": {withAuth(strings.Replace(ccAuth, "https://login.example", "http://login.example", 1) + ", allow_insecure_http: true}"), "servers[0].auth.token_url", "must be https"},
		"token_url loopback":     {withAuth(strings.Replace(ccAuth, "https://login.example", "http://127.0.0.1:9", 1) + "}"), "servers[0].auth.token_url", "allow_insecure_http"},
		"token_url credentials":  {withAuth(strings.Replace(ccAuth, "https://login.example", "https://u:p@login.example", 1) + "}"), "servers[0].auth.token_url", "must not contain credentials"},
		"token_url relative":     {withAuth(strings.Replace(ccAuth, "https://login.example/token", "/token", 1) + "}"), "servers[0].auth.token_url", "is not valid"},
		"client_id missing":      {withAuth("{kind: client_credentials, token_url: 'https://x/t', client_secret: {value_from_env: S}}"), "servers[0].auth.client_id", "is required"},
		"client_secret missing":  {withAuth("{kind: client_credentials, token_url: 'https://x/t', client_id: gw}"), "servers[0].auth.client_secret", "is required"},
		"client_secret two":      {withAuth("{kind: client_credentials, token_url: 'https://x/t', client_id: gw, client_secret: {value_from_env: S, value_from_file: /f}}"), "servers[0].auth.client_secret", "set exactly one of value_from_env, value_from_file"},
		"client_secret literal":  {withAuth("{kind: client_credentials, token_url: 'https://x/t', client_id: gw, client_secret: {value: s}}"), "servers[0].auth.client_secret.value", "unknown key"},
		"scope with space":       {withAuth(ccAuth + ", scopes: ['notes read']}"), "servers[0].auth.scopes[0].name", `"notes read" is not a valid scope`},
		"scope level":            {withAuth(ccAuth + ", scopes: [{name: a, level: admin}]}"), "servers[0].auth.scopes[0].level", `"admin" is not a level`},
		"scope twice":            {withAuth(ccAuth + ", scopes: [a, {name: a, level: read}]}"), "servers[0].auth.scopes[1].name", `must be unique`},
		"scope unknown key":      {withAuth(ccAuth + ", scopes: [{name: a, levle: read}]}"), "servers[0].auth.scopes[0]", `unknown key "levle"`},
		"scope not a string":     {withAuth(ccAuth + ", scopes: [3]}"), "servers[0].auth.scopes[0]", `must be a scope name`},
		"scope without name":     {withAuth(ccAuth + ", scopes: [{level: read}]}"), "servers[0].auth.scopes[0].name", `is required`},
		"resource relative":      {withAuth(ccAuth + ", resource: notes}"), "servers[0].auth.resource", "use an absolute URI without a fragment (RFC 8707)"},
		"auth_style":             {withAuth(ccAuth + ", auth_style: jwt}"), "servers[0].auth.auth_style", `"jwt" is not supported: use basic, post or private_key_jwt`},
		"unknown auth key":       {withAuth(ccAuth + ", scope: x}"), "servers[0].auth.scope", `did you mean "scopes"?`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tc.yaml), tc.path, tc.msg)
		})
	}
}

func TestUpstreamAuthValid(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, withAuth(strings.Replace(ccAuth, "https://login.example", "http://127.0.0.1:9", 1)+
		", allow_insecure_http: true, scopes: [{name: notes.read, level: read, description: Read notes}, notes.write], audience: notes, resource: 'https://notes.example/mcp', auth_style: post}"))
	want := &UpstreamAuth{Kind: AuthClientCredentials, TokenURL: "http://127.0.0.1:9/token", AllowInsecureHTTP: true,
		ClientID: "gw", ClientSecret: &Secret{ValueFromEnv: "GW_SECRET"}, Scopes: []UpstreamScope{{Name: "notes.read", Level: ScopeLevelRead, Description: "Read notes"}, {Name: "notes.write"}},
		Audience: "notes", Resource: "https://notes.example/mcp", AuthStyle: AuthStylePost}
	if diff := cmp.Diff(want, cfg.Servers[0].Auth); diff != "" {
		t.Errorf("auth (-want +got):\n%s", diff)
	}
	if got := (&UpstreamAuth{}).EffectiveAuthStyle(); got != AuthStyleBasic {
		t.Errorf("default auth_style = %q, want basic", got)
	}
}

func TestTokenExchangeValid(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, withAuth(txAuth+", allow_insecure_http: true, scopes: [{name: notes.read, level: read}], audience: notes, "+
		"resource: 'https://notes.example/mcp', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', token_params: {connector_id: corp}}"))
	want := &UpstreamAuth{Kind: AuthTokenExchange, TokenURL: "http://127.0.0.1:9/token", AllowInsecureHTTP: true,
		ClientID: "gw", ClientSecret: &Secret{ValueFromEnv: "GW_SECRET"}, Scopes: []UpstreamScope{{Name: "notes.read", Level: ScopeLevelRead}},
		Audience: "notes", Resource: "https://notes.example/mcp", SubjectTokenType: TokenTypeJWT, TokenParams: map[string]string{"connector_id": "corp"}}
	if diff := cmp.Diff(want, cfg.Servers[0].Auth); diff != "" {
		t.Errorf("auth (-want +got):\n%s", diff)
	}
	if got := (&UpstreamAuth{}).EffectiveSubjectTokenType(); got != TokenTypeAccessToken {
		t.Errorf("default subject_token_type = %q, want %s", got, TokenTypeAccessToken)
	}
}

// servers[].headers and auth: {kind: headers} are the same thing: either
// spelling gives the headers the upstream receives.
func TestHeadersSpellings(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"deprecated": server("    headers: [{name: X-Client, value: mcpgate}]\n"),
		"auth":       withAuth("{kind: headers, headers: [{name: X-Client, value: mcpgate}]}"),
	} {
		cfg := mustParse(t, src)
		hdr, err := cfg.Servers[0].ResolveHeaders()
		if err != nil || hdr.Get("X-Client") != "mcpgate" || len(hdr) != 1 {
			t.Errorf("%s: ResolveHeaders = %v, %v; want X-Client: mcpgate", name, hdr, err)
		}
	}
	cc := mustParse(t, withAuth(ccAuth+"}"))
	if hdr, err := cc.Servers[0].ResolveHeaders(); err != nil || len(hdr) != 0 {
		t.Errorf("client_credentials: ResolveHeaders = %v, %v; want none", hdr, err)
	}
}

func TestProvisionUpstreamAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	ctl := filepath.Join(dir, "ctl")
	if err := os.WriteFile(ctl, []byte("a\x00b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, `servers:
  - name: a
    url: https://a.example/mcp
    auth: {kind: headers, headers: [{name: X-Key, value_from_file: `+missing+`}]}
  - name: b
    url: https://b.example/mcp
    auth: {kind: client_credentials, token_url: 'https://x/t', client_id: gw, client_secret: {value_from_file: `+missing+`}}
  - name: c
    url: https://c.example/mcp
    auth: {kind: client_credentials, token_url: 'https://x/t', client_id: gw, client_secret: {value_from_env: MCPGATE_TEST_UNSET_7A1B}}
  - name: d
    url: https://d.example/mcp
    auth: {kind: client_credentials, token_url: 'https://x/t', client_id: gw, client_secret: {value_from_file: `+ctl+`}}
`)
	ps := provisionProblems(t, cfg)
	wantProblem(t, ps, "servers[0].auth.headers[0].value_from_file", "no such file or directory")
	wantProblem(t, ps, "servers[1].auth.client_secret.value_from_file", "no such file or directory")
	wantProblem(t, ps, "servers[2].auth.client_secret.value_from_env", "MCPGATE_TEST_UNSET_7A1B is not set")
	wantProblem(t, ps, "servers[3].auth.client_secret.value_from_file", "control characters")
	if len(ps) != 4 {
		t.Errorf("got %d problems, want 4:\n%v", len(ps), &ValidationError{Problems: ps})
	}
	if msg := (&ValidationError{Problems: ps}).Error(); strings.Contains(msg, "a\x00b") {
		t.Errorf("a secret's value is in the error: %q", msg)
	}
}
