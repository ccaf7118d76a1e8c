package authserver

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeDefaults(t *testing.T) {
	t.Parallel()
	m := &ClientMetadata{RedirectURIs: []string{"http://127.0.0.1/callback"}}
	if err := m.normalize(); err != nil {
		t.Fatal(err)
	}
	want := &ClientMetadata{
		RedirectURIs:            []string{"http://127.0.0.1/callback"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "client_secret_basic",
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("normalize (-want +got):\n%s", diff)
	}

	m = &ClientMetadata{RedirectURIs: []string{"http://127.0.0.1/callback"}}
	if err := m.normalizeCIMD(); err != nil {
		t.Fatal(err)
	}
	want.TokenEndpointAuthMethod = "none"
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("normalizeCIMD (-want +got):\n%s", diff)
	}
}

func TestNormalizeAccepts(t *testing.T) {
	t.Parallel()
	m := &ClientMetadata{
		ClientName:              "Claude Code (Ünïcode ok) 🤖",
		ClientURI:               "https://claude.ai",
		LogoURI:                 "https://claude.ai/logo.png",
		RedirectURIs:            []string{"https://claude.ai/api/mcp/auth_callback", "http://localhost:33418/callback", "com.example.app:/oauth2redirect"},
		GrantTypes:              []string{"authorization_code"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "client_secret_post",
		Scope:                   "mcp:tools files.read",
		SoftwareID:              "4NRB1-0XZABZI9E6-5SM3R",
		SoftwareVersion:         "2.1.0",
	}
	want := m.clone()
	if err := m.normalize(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("normalize changed explicit values (-want +got):\n%s", diff)
	}
}

func TestNormalizeRefuses(t *testing.T) {
	t.Parallel()
	valid := func() *ClientMetadata {
		return &ClientMetadata{RedirectURIs: []string{"https://app.example.com/cb"}}
	}
	tests := map[string]struct {
		edit func(*ClientMetadata)
		cimd bool
		code string
		desc string
	}{
		"no redirect URIs": {func(m *ClientMetadata) { m.RedirectURIs = nil }, false,
			"invalid_redirect_uri", "redirect_uris: at least one is required"},
		"11 redirect URIs": {func(m *ClientMetadata) { m.RedirectURIs = make([]string, 11) }, false,
			"invalid_redirect_uri", "redirect_uris: 11 given, at most 10 are allowed"},
		"11 redirect URIs, each problem": {func(m *ClientMetadata) { m.RedirectURIs = make([]string, 11); m.ClientName = "\x00" }, false,
			"invalid_redirect_uri", "redirect_uris: 11 given, at most 10 are allowed; client_name: must not contain"},
		"javascript: redirect URI": {func(m *ClientMetadata) { m.RedirectURIs = []string{"javascript:alert(1)"} }, false,
			"invalid_redirect_uri", `redirect_uris[0]: "javascript:alert(1)": scheme "javascript" is not allowed`},
		"long redirect URI": {func(m *ClientMetadata) { m.RedirectURIs = []string{"https://a.example/" + strings.Repeat("a", 2000)} }, false,
			"invalid_redirect_uri", "redirect_uris[0]: longer than 2000 bytes"},
		"implicit grant": {func(m *ClientMetadata) { m.GrantTypes = []string{"implicit"} }, false,
			"invalid_client_metadata", `grant_types[0]: "implicit" is not supported: use authorization_code and refresh_token; grant_types: must include authorization_code`},
		"client_credentials grant": {func(m *ClientMetadata) { m.GrantTypes = []string{"authorization_code", "client_credentials"} }, false,
			"invalid_client_metadata", `grant_types[1]: "client_credentials" is not supported`},
		"refresh only": {func(m *ClientMetadata) { m.GrantTypes = []string{"refresh_token"} }, false,
			"invalid_client_metadata", "grant_types: must include authorization_code"},
		"token response type": {func(m *ClientMetadata) { m.ResponseTypes = []string{"code", "token"} }, false,
			"invalid_client_metadata", `response_types[1]: "token" is not supported: use code`},
		"empty response types": {func(m *ClientMetadata) { m.ResponseTypes = []string{} }, false,
			"invalid_client_metadata", "response_types: must include code"},
		"client_secret_jwt": {func(m *ClientMetadata) { m.TokenEndpointAuthMethod = "client_secret_jwt" }, false,
			"invalid_client_metadata", `token_endpoint_auth_method: "client_secret_jwt" is not supported: use none or client_secret_basic or client_secret_post`},
		"CIMD with a secret method": {func(m *ClientMetadata) { m.TokenEndpointAuthMethod = "client_secret_basic" }, true,
			"invalid_client_metadata", `token_endpoint_auth_method: "client_secret_basic" is not supported: use none`},
		"CIMD with private_key_jwt": {func(m *ClientMetadata) { m.TokenEndpointAuthMethod = "private_key_jwt" }, true,
			"invalid_client_metadata", `"private_key_jwt" is not supported: use none`},
		"long client name": {func(m *ClientMetadata) { m.ClientName = strings.Repeat("é", 201) }, false,
			"invalid_client_metadata", "client_name: longer than 200 characters"},
		"client name with a newline": {func(m *ClientMetadata) { m.ClientName = "Good\nApp" }, false,
			"invalid_client_metadata", "client_name: must not contain control or formatting characters"},
		"client name with a bidi override": {func(m *ClientMetadata) { m.ClientName = "Good\u202eppA" }, false,
			"invalid_client_metadata", "client_name: must not contain control or formatting characters"},
		"client name with a zero-width space": {func(m *ClientMetadata) { m.ClientName = "Go\u200bogle" }, false,
			"invalid_client_metadata", "client_name: must not contain control"},
		"client name not UTF-8": {func(m *ClientMetadata) { m.ClientName = "\xff" }, false,
			"invalid_client_metadata", "client_name: must be valid UTF-8"},
		"software_version with a NUL": {func(m *ClientMetadata) { m.SoftwareVersion = "1\x00" }, false,
			"invalid_client_metadata", "software_version: must not contain control"},
		"http logo": {func(m *ClientMetadata) { m.LogoURI = "http://tracker.example/logo.png" }, false,
			"invalid_client_metadata", "logo_uri: must be an https URL"},
		"javascript client URI": {func(m *ClientMetadata) { m.ClientURI = "javascript:alert(1)" }, false,
			"invalid_client_metadata", "client_uri: must be an https URL"},
		"client URI with user info": {func(m *ClientMetadata) { m.ClientURI = "https://google.com@evil.example/" }, false,
			"invalid_client_metadata", "client_uri: must not contain user info"},
		"scope with a double space": {func(m *ClientMetadata) { m.Scope = "a  b" }, false,
			"invalid_client_metadata", "scope: must be scope tokens separated by single spaces"},
		"scope with a quote": {func(m *ClientMetadata) { m.Scope = `a"b` }, false,
			"invalid_client_metadata", "scope: must be scope tokens"},
	}
	for name, tt := range tests {
		m := valid()
		tt.edit(m)
		err := m.normalize()
		if tt.cimd {
			err = m.normalizeCIMD()
		}
		var me *metadataError
		if !errors.As(err, &me) || me.Code != tt.code || !strings.Contains(me.Description, tt.desc) {
			t.Errorf("%s: normalize = %v, want %s: …%s…", name, err, tt.code, tt.desc)
		}
	}
}

func TestNormalizeReportsEveryProblem(t *testing.T) {
	t.Parallel()
	m := &ClientMetadata{
		RedirectURIs:            []string{"https://ok.example/cb", "http://evil.example/cb", "file:///etc/passwd"},
		GrantTypes:              []string{"password"},
		TokenEndpointAuthMethod: "tls_client_auth",
		ClientName:              "\x1b[31mred",
	}
	err := m.normalize()
	want := `invalid_redirect_uri: ` +
		`redirect_uris[1]: "http://evil.example/cb": http is allowed only on a loopback host (127.0.0.1, [::1] or localhost): use https; ` +
		`redirect_uris[2]: "file:///etc/passwd": scheme "file" is not allowed: use https, http on a loopback host, or a private-use scheme such as com.example.app (RFC 8252 §7.1); ` +
		`grant_types[0]: "password" is not supported: use authorization_code and refresh_token; ` +
		`grant_types: must include authorization_code; ` +
		`token_endpoint_auth_method: "tls_client_auth" is not supported: use none or client_secret_basic or client_secret_post; ` +
		`client_name: must not contain control or formatting characters`
	if err == nil || err.Error() != want {
		t.Errorf("normalize =\n%v\nwant\n%s", err, want)
	}
}

func TestCheckRedirectURI(t *testing.T) {
	t.Parallel()
	tests := map[string]string{ // "" means accepted
		"https://app.example.com/cb":          "",
		"https://app.example.com:8443/cb?x=1": "",
		"HTTPS://APP.example.com/cb":          "",
		"http://127.0.0.1/callback":           "",
		"http://127.0.0.1:8080/callback":      "",
		"http://127.1.2.3/callback":           "",
		"http://[::1]:8080/":                  "",
		"http://localhost/cb":                 "",
		"http://localhost":                    "",
		"com.example.app:/oauth2redirect":     "",
		"com.example.app://callback":          "",
		"cursor.app:/cb":                      "",

		"http://example.com/cb":          "http is allowed only on a loopback host",
		"http://localhost.evil.com/cb":   "http is allowed only on a loopback host",
		"http://127.0.0.1.evil.com/cb":   "http is allowed only on a loopback host",
		"http://localhost./cb":           "http is allowed only on a loopback host",
		"http://0.0.0.0/cb":              "http is allowed only on a loopback host",
		"https://app.example.com/cb#x":   "must not have a fragment",
		"https://app.example.com/cb#":    "must not have a fragment",
		"https://user@app.example.com/":  "must not contain user info",
		"http://127.0.0.1@evil.com/":     "must not contain user info",
		"https:///cb":                    "https needs a host",
		"https://:443/cb":                "https needs a host",
		"/relative/cb":                   "not an absolute URI",
		"app.example.com/cb":             "not an absolute URI",
		"":                               "not an absolute URI",
		"javascript:alert(1)":            `scheme "javascript" is not allowed`,
		"JavaScript:alert(1)":            `scheme "javascript" is not allowed`,
		"javascript://%0aalert(1)":       "not a valid URI",
		"data:text/html,<script>":        "must be printable ASCII",
		"data:text/html;base64,PHNjcmlw": `scheme "data" is not allowed`,
		"file:///etc/passwd":             `scheme "file" is not allowed`,
		"myapp:/cb":                      `scheme "myapp" is not allowed`,
		"urn:ietf:wg:oauth:2.0:oob":      `scheme "urn" is not allowed`,
		"https://app.example.com/c b":    "must be printable ASCII without spaces",
		"https://app.example.com/cb\n":   "must be printable ASCII",
		"https://аpp.example.com/cb":     "must be printable ASCII", // Cyrillic а
		`http://127.0.0.1:80\@evil.com/`: "must be printable ASCII",
	}
	for uri, want := range tests {
		err := checkRedirectURI(uri)
		switch {
		case want == "" && err != nil:
			t.Errorf("checkRedirectURI(%q) = %v, want accepted", uri, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("checkRedirectURI(%q) = %v, want an error saying %q", uri, err, want)
		}
	}
}

func TestRedirectURIMatches(t *testing.T) {
	t.Parallel()
	registered := []string{
		"https://app.example.com/cb",
		"https://app.example.com/q?a=1",
		"http://127.0.0.1/callback",
		"http://[::1]:5000/cb",
		"http://localhost/auth",
		"com.example.app:/oauth2redirect",
	}
	tests := map[string]bool{
		// exact
		"https://app.example.com/cb":      true,
		"https://app.example.com/q?a=1":   true,
		"http://127.0.0.1/callback":       true,
		"com.example.app:/oauth2redirect": true,
		// loopback: any port, everything else identical
		"http://127.0.0.1:51234/callback": true,
		"http://127.0.0.1:1/callback":     true,
		"http://127.0.0.1:65535/callback": true,
		"http://[::1]/cb":                 true,
		"http://[::1]:9/cb":               true,
		"http://localhost:8080/auth":      true,

		// https never matches on another port, host or path
		"https://app.example.com:443/cb":      false,
		"https://app.example.com:8443/cb":     false,
		"https://APP.example.com/cb":          false,
		"https://app.example.com/CB":          false,
		"https://app.example.com/cb/":         false,
		"https://app.example.com/cb?":         false,
		"https://app.example.com/cb?x=1":      false,
		"https://app.example.com/cb#":         false,
		"https://app.example.com/%63b":        false,
		"https://app.example.com/q?a=1&a=2":   false,
		"https://app.example.com.evil.com/cb": false,
		"https://app.example.com@evil.com/cb": false,
		"http://app.example.com/cb":           false,
		// loopback tricks
		"http://127.0.0.1@evil.com/callback":       false,
		"http://127.0.0.1:80@evil.com/callback":    false,
		"http://127.0.0.1.evil.com/callback":       false,
		"http://127.0.0.1:8080.evil.com/callback":  false,
		`http://127.0.0.1:8080\@evil.com/callback`: false,
		"http://127.0.0.1:8080/callback/":          false,
		"http://127.0.0.1:8080/Callback":           false,
		"http://127.0.0.1:8080/%63allback":         false,
		"http://127.0.0.1:8080/callback?x=1":       false,
		"http://127.0.0.1:8080/callback#x":         false,
		"http://127.0.0.1:/callback":               false,
		"http://127.0.0.1:0/callback":              false,
		"http://127.0.0.1:65536/callback":          false,
		"http://127.0.0.1:123456/callback":         false,
		"http://127.0.0.1:+80/callback":            false,
		"http://127.0.0.1:8080:8080/callback":      false,
		"http://127.0.0.2:8080/callback":           false,
		"http://localhost:8080/callback":           false, // registered on 127.0.0.1
		"http://[::1]:8080/callback":               false,
		"http://[0:0:0:0:0:0:0:1]:5000/cb":         false,
		"http://LOCALHOST:8080/auth":               false,
		"HTTP://127.0.0.1:8080/callback":           false,
		"https://127.0.0.1:8080/callback":          false,
		"http://localhost.:8080/auth":              false,
		"com.example.app:/oauth2redirect/":         false,
		"com.example.app://oauth2redirect":         false,
		"":                                         false,
	}
	for got, want := range tests {
		if redirectURIMatches(registered, got) != want {
			t.Errorf("redirectURIMatches(%q) = %v, want %v", got, !want, want)
		}
	}
	if redirectURIMatches(nil, "") {
		t.Error("an empty redirect URI matched no registration")
	}
}

func TestRedirectHost(t *testing.T) {
	t.Parallel()
	for uri, want := range map[string]string{
		"https://App.Example.com/cb":            "app.example.com",
		"https://app.example.com:443/cb":        "app.example.com",
		"https://app.example.com:8443/cb":       "app.example.com:8443",
		"https://xn--pple-43d.com/cb":           "xn--pple-43d.com",
		"https://user@app.example.com/cb":       "app.example.com",
		"http://127.0.0.1:51234/callback":       "127.0.0.1",
		"http://[::1]:5000/cb":                  "::1",
		"http://localhost/cb":                   "localhost",
		"com.example.app:/oauth2redirect":       "com.example.app",
		"https://app.example.com/cb#fragment":   "",
		"not a uri":                             "",
		"https://аpp.example.com/cb (cyrillic)": "",
	} {
		if got := redirectHost(uri); got != want {
			t.Errorf("redirectHost(%q) = %q, want %q", uri, got, want)
		}
	}
}

// A redirect URI that matches a valid registered one is itself valid and
// goes to the same place.
func FuzzRedirectURIMatches(f *testing.F) {
	for _, s := range [][2]string{
		{"http://127.0.0.1/cb", "http://127.0.0.1:8080/cb"},
		{"http://[::1]:5000/cb", "http://[::1]/cb"},
		{"http://localhost/cb", "http://localhost:1@evil.com/cb"},
		{"https://a.example/cb", "https://a.example/cb"},
		{"com.example.app:/cb", "com.example.app:/cb"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, got string) {
		if checkRedirectURI(registered) != nil || !redirectURIMatches([]string{registered}, got) {
			return
		}
		if err := checkRedirectURI(got); err != nil {
			t.Errorf("%q matches %q but is invalid: %v", got, registered, err)
		}
		if redirectHost(got) != redirectHost(registered) {
			t.Errorf("%q matches %q but goes to %q, not %q", got, registered, redirectHost(got), redirectHost(registered))
		}
	})
}
