package config

import (
	"strings"
	"testing"
)

// TestConfiguredURLsRefused (issue #17, SSRF through configured URLs): the
// URLs the gateway connects to that the configuration names (an
// upstream's url, a token endpoint, an upstream's authorization server)
// are refused by validation, naming the key, when they carry credentials
// (which would be sent to whatever the URL names), are not http(s) or not
// absolute, or are http without allow_insecure_http; a token endpoint or
// authorization server over http only on a loopback host, even with
// allow_insecure_http. (An https URL may name any host: it is the
// operator's choice, docs/security.md.)
func TestConfiguredURLsRefused(t *testing.T) {
	t.Parallel()
	url := func(u string) string { return strings.Replace(minimal, "https://notes.example/mcp", u, 1) }
	urlInsecure := func(u string) string { return url(u) + "    allow_insecure_http: true\n" }
	oauthAS := func(as string, insecure bool) string {
		return withAuth("{kind: oauth, authorization_server: '" + as + "'" + map[bool]string{true: ", allow_insecure_http: true"}[insecure] + "}")
	}
	cc := func(tokenURL string, insecure bool) string {
		return withAuth(strings.Replace(ccAuth, "https://login.example/token", tokenURL, 1) + map[bool]string{true: ", allow_insecure_http: true"}[insecure] + "}")
	}
	const (
		serverURL = "servers[0].url"
		tokenURL  = "servers[0].auth.token_url"
		asURL     = "servers[0].auth.authorization_server"
	)
	tests := map[string]struct{ yaml, path, msg string }{
		"url user only":                {url("https://u@notes.example/mcp"), serverURL, "must not contain credentials"},
		"url empty password":           {url("https://u:@notes.example/mcp"), serverURL, "must not contain credentials"},
		"url credentials insecure":     {urlInsecure("http://u:p@127.0.0.1:9/mcp"), serverURL, "must not contain credentials"},
		"url no host":                  {url("https:///mcp"), serverURL, "is not valid"},
		"url scheme-relative":          {url("//notes.example/mcp"), serverURL, "is not valid"},
		"url file":                     {url("file:///etc/passwd"), serverURL, "is not valid"},
		"url gopher":                   {url("gopher://127.0.0.1:6379/_FLUSHALL"), serverURL, `scheme "gopher" is not supported`},
		"url ws":                       {url("ws://notes.example/mcp"), serverURL, `scheme "ws" is not supported`},
		"url upper-case http":          {url("HTTP://notes.example/mcp"), serverURL, "must be https unless allow_insecure_http is set"},
		"url http loopback":            {url("http://127.0.0.1:9/mcp"), serverURL, "must be https unless allow_insecure_http is set"},
		"url http metadata":            {url("http://169.254.169.254/latest"), serverURL, "must be https unless allow_insecure_http is set"},
		"url fragment empty":           {url("https://notes.example/mcp#"), serverURL, "must not have a fragment"},
		"token_url user only":          {cc("https://u@login.example/token", false), tokenURL, "must not contain credentials"},
		"token_url http metadata":      {cc("http://169.254.169.254/token", true), tokenURL, "must be https (http only on a loopback address"},
		"token_url http private":       {cc("http://10.0.0.1/token", true), tokenURL, "must be https (http only on a loopback address"},
		"token_url http localhost-ish": {cc("http://localhost.evil.example/token", true), tokenURL, "must be https (http only on a loopback address"},
		"token_url http loopback only": {cc("http://[::1]:9/token", false), tokenURL, "allow_insecure_http"},
		"token_url scheme":             {cc("ftp://login.example/token", false), tokenURL, `scheme "ftp" is not supported`},
		"token_url no host":            {cc("https:///token", false), tokenURL, "is not valid"},
		"as credentials":               {oauthAS("https://u:p@login.example", false), asURL, "must not contain credentials"},
		"as http allowed not loopback": {oauthAS("http://login.example", true), asURL, "must be https (http only on a loopback address"},
		"as http metadata":             {oauthAS("http://169.254.169.254", true), asURL, "must be https (http only on a loopback address"},
		"as http loopback not allowed": {oauthAS("http://127.0.0.1:9", false), asURL, "allow_insecure_http"},
		"as fragment":                  {oauthAS("https://login.example#x", false), asURL, "must not have a fragment"},
		"as relative":                  {oauthAS("/issuer", false), asURL, "is not valid"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tc.yaml), tc.path, tc.msg)
		})
	}
	// What the rules allow: http on loopback in development, for each.
	for _, src := range []string{urlInsecure("http://127.0.0.1:9/mcp"), cc("http://localhost:9/token", true), cc("http://[::1]:9/token", true)} {
		mustParse(t, src)
	}
}
