package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// server returns a servers list with one server whose extra lines follow.
func server(lines string) string {
	return "servers:\n  - name: notes\n    url: https://notes.example/mcp\n" + lines
}

func TestValidationRules(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		yaml string
		path string
		msg  string
	}{
		"listen no port":                {"listen: localhost\n" + minimal, "listen", `"localhost" is not a valid address: use host:port`},
		"listen empty":                  {"listen: ''\n" + minimal, "listen", `"" is not a valid address`},
		"listen bad port":               {"listen: 'a:99999'\n" + minimal, "listen", "port from 1 to 65535"},
		"public_url relative":           {"public_url: /gw\n" + minimal, "public_url", `"/gw" is not valid: use an absolute http or https URL`},
		"public_url ftp":                {"public_url: ftp://x\n" + minimal, "public_url", "use an absolute http or https URL"},
		"public_url query":              {"public_url: https://x/?a=1\n" + minimal, "public_url", "must not have a query or fragment"},
		"public_url fragment":           {"public_url: https://x/#f\n" + minimal, "public_url", "must not have a query or fragment"},
		"public_url credentials":        {"public_url: https://u:p@x\n" + minimal, "public_url", "must not contain credentials"},
		"max_request_bytes zero":        {"max_request_bytes: 0\n" + minimal, "max_request_bytes", "must be greater than 0"},
		"shutdown_grace negative":       {"shutdown_grace: -1s\n" + minimal, "shutdown_grace", "must not be negative"},
		"idle timeout negative":         {"session_idle_timeout: -1m\n" + minimal, "session_idle_timeout", "must not be negative"},
		"trusted proxy not an IP":       {"trusted_proxies: [10.0.0.1, proxy.local]\n" + minimal, "trusted_proxies[1]", `"proxy.local" is not an IP address or CIDR prefix`},
		"trusted proxy bad CIDR":        {"trusted_proxies: [10.0.0.0/33]\n" + minimal, "trusted_proxies[0]", `"10.0.0.0/33" is not a CIDR prefix`},
		"trusted proxy host bits":       {"trusted_proxies: [10.1.2.3/8]\n" + minimal, "trusted_proxies[0]", "did you mean 10.0.0.0/8?"},
		"limits sessions_per_user zero": {"limits: {sessions_per_user: 0}\n" + minimal, "limits.sessions_per_user", "must be greater than 0"},
		"limits max_connections zero":   {"limits: {max_connections: 0}\n" + minimal, "limits.max_connections", "must be greater than 0"},
		"limits idle_timeout zero":      {"limits: {idle_timeout: 0s}\n" + minimal, "limits.idle_timeout", "must be greater than 0"},
		"limits body_read_timeout zero": {"limits: {body_read_timeout: 0s}\n" + minimal, "limits.body_read_timeout", "must be greater than 0"},
		"upstream message bound zero":   {"limits: {max_upstream_message_bytes: 0}\n" + minimal, "limits.max_upstream_message_bytes", "must be greater than 0 and at most 1GiB"},
		"upstream message bound huge":   {"limits: {max_upstream_message_bytes: 2GiB}\n" + minimal, "limits.max_upstream_message_bytes", "at most 1GiB"},
		"limits zero":                   {"limits: {max_initialize_bytes: 0, sessions_per_user: 0, max_connections: 0, idle_timeout: 0s, body_read_timeout: 0s}\n" + minimal, "limits.max_initialize_bytes", "must be greater than 0"},
		"separator empty":               {"naming: {separator: ''}\n" + minimal, "naming.separator", `"" is not a valid separator: use 1-4 characters`},
		"separator too long":            {"naming: {separator: '-----'}\n" + minimal, "naming.separator", "is not a valid separator"},
		"separator bad char":            {"naming: {separator: '/'}\n" + minimal, "naming.separator", "is not a valid separator"},
		"approval mode unknown":         {"approval: {lock_file: l.yaml, mode: strict}\n" + minimal, "approval.mode", `"strict" is not supported: use one of [enforce warn off]`},
		"approval mode without lock":    {"approval: {mode: warn}\n" + minimal, "approval.lock_file", `is required for mode "warn"`},
		"server approval unknown":       {"approval: {lock_file: l.yaml}\n" + server("    approval: yes-please\n"), "servers[0].approval", `"yes-please" is not supported`},
		"server approval without lock":  {server("    approval: enforce\n"), "servers[0].approval", `"enforce" needs approval.lock_file`},
		"no servers key":                {"listen: 'a:1'\n", "servers", "at least one server is required"},
		"empty servers":                 {"servers: []\n", "servers", "at least one server is required"},
		"name missing":                  {"servers:\n  - url: https://x\n", "servers[0].name", "is required"},
		"name invalid":                  {"servers:\n  - name: Notes!\n    url: https://x\n", "servers[0].name", `"Notes!" is not a valid name: use lowercase letters, digits, '-' and '_' (1-32 characters)`},
		"name too long":                 {"servers:\n  - name: " + strings.Repeat("a", 33) + "\n    url: https://x\n", "servers[0].name", "is not a valid name"},
		"name trailing dash":            {"servers:\n  - name: a-\n    url: https://x\n", "servers[0].name", "is not a valid name"},
		"name has separator":            {"servers:\n  - name: a__b\n    url: https://x\n", "servers[0].name", `"a__b" contains the naming separator "__"`},
		"name duplicate":                {minimal + "  - name: x\n    url: https://x\n  - name: notes\n    url: https://y\n", "servers[2].name", `"notes" is already used by servers[0]: names must be unique`},
		"url missing":                   {"servers:\n  - name: a\n", "servers[0].url", "is required"},
		"url relative":                  {yamlString(server("")).Replace("https://notes.example/mcp", "/mcp"), "servers[0].url", `"/mcp" is not valid: use an absolute URL`},
		"url scheme":                    {yamlString(server("")).Replace("https://notes.example/mcp", "ftp://x/mcp"), "servers[0].url", `scheme "ftp" is not supported: use https`},
		"url credentials":               {yamlString(server("")).Replace("https://notes.example/mcp", "https://u:p@x/mcp"), "servers[0].url", "must not contain credentials"},
		"url fragment":                  {yamlString(server("")).Replace("https://notes.example/mcp", "https://x/mcp#a"), "servers[0].url", "must not have a fragment"},
		"transport":                     {server("    transport: grpc\n"), "servers[0].transport", `"grpc" is not supported: use streamable-http or sse`},
		"transport empty":               {server("    transport: ''\n"), "servers[0].transport", `"" is not supported`},
		"timeout zero":                  {server("    timeout: 0s\n"), "servers[0].timeout", "must be greater than 0"},
		"prefix invalid":                {server("    prefix: N!\n"), "servers[0].prefix", `"N!" is not a valid name`},
		"prefix has separator":          {server("    prefix: a__b\n"), "servers[0].prefix", "contains the naming separator"},
		"prefix duplicate":              {server("    prefix: t\n") + "  - name: t\n    url: https://t\n", "servers[1].prefix", `"t" is already used by servers[0]: prefixes must be unique (the prefix defaults to the name)`},
		"label key empty":               {server("    labels: {'': x}\n"), `servers[0].labels[""]`, "label keys must not be empty"},
		"header name missing":           {server("    headers: [{value: v}]\n"), "servers[0].headers[0].name", "is required"},
		"header name invalid":           {server("    headers: [{name: 'X Key', value: v}]\n"), "servers[0].headers[0].name", `"X Key" is not a valid header name`},
		"header hop-by-hop":             {server("    headers: [{name: connection, value: v}]\n"), "servers[0].headers[0].name", `"connection" cannot be set`},
		"header proxy":                  {server("    headers: [{name: Proxy-Authorization, value: v}]\n"), "servers[0].headers[0].name", "cannot be set"},
		"header mcp session":            {server("    headers: [{name: Mcp-Session-Id, value: v}]\n"), "servers[0].headers[0].name", "cannot be set"},
		"header duplicate":              {server("    headers: [{name: X-A, value: v}, {name: x-a, value: w}]\n"), "servers[0].headers[1].name", `"X-A" is already used by servers[0].headers[0]: header names must be unique`},
		"header no source":              {server("    headers: [{name: X-A}]\n"), "servers[0].headers[0]", "set exactly one of value, value_from_env, value_from_file"},
		"header two sources":            {server("    headers: [{name: X-A, value: v, value_from_env: HOME}]\n"), "servers[0].headers[0]", "set exactly one of value, value_from_env, value_from_file"},
		"header value control":          {server("    headers: [{name: X-A, value: \"a\\r\\nX-B: c\"}]\n"), "servers[0].headers[0].value", "value contains control characters"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tc.yaml), tc.path, tc.msg)
		})
	}
}

// Replace lets the table above edit a YAML string inline.
type yamlString string

func (s yamlString) Replace(old, new string) string { return strings.Replace(string(s), old, new, 1) }

func TestInsecureHTTPMessage(t *testing.T) {
	t.Parallel()
	src := minimal + "  - name: local\n    url: http://127.0.0.1:9000/mcp\n"
	want := []Problem{{Path: "servers[1].url", Message: "must be https unless allow_insecure_http is set"}}
	if diff := cmp.Diff(want, problemsOf(t, src)); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
	_, err := Parse([]byte(src), "t.yaml")
	if !strings.Contains(err.Error(), "\nservers[1].url: must be https unless allow_insecure_http is set") {
		t.Errorf("error text = %q", err)
	}
	mustParse(t, src+"    allow_insecure_http: true\n")
}

func TestValidateProgrammatic(t *testing.T) {
	t.Parallel()
	cfg := Default()
	err := cfg.Validate()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate() = %v, want *ValidationError", err)
	}
	if got, want := err.Error(), "servers: at least one server is required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	cfg.Servers = []Server{{Name: "a", URL: "https://a", Transport: TransportSSE, Timeout: DefaultServerTimeout}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

// TestTypeErrorSuppressesDerivedProblems checks that a value that fails to
// decode is reported once, not again as missing or invalid.
func TestTypeErrorSuppressesDerivedProblems(t *testing.T) {
	t.Parallel()
	src := "servers:\n  - name: [a]\n    url: 5\n    headers: [{name: X-A, value: [v]}]\n  - oops\n"
	want := []Problem{
		{"servers[0].name", "must be a string, got a list"},
		{"servers[0].url", "must be a string, got a number (quote it to make it a string)"},
		{"servers[0].headers[0].value", "must be a string, got a list"},
		{"servers[1]", "must be a mapping, got a string"},
	}
	if diff := cmp.Diff(want, problemsOf(t, src)); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
}

func TestApprovalMode(t *testing.T) {
	t.Parallel()
	warn := &Server{Name: "a", Approval: ApprovalWarn}
	plain := &Server{Name: "b"}
	tests := []struct {
		name     string
		approval Approval
		server   *Server
		want     string
	}{
		{"no lock", Approval{}, plain, ApprovalOff},
		{"lock enforces by default", Approval{LockFile: "l.yaml"}, plain, ApprovalEnforce},
		{"configured mode", Approval{LockFile: "l.yaml", Mode: ApprovalWarn}, plain, ApprovalWarn},
		{"server overrides", Approval{LockFile: "l.yaml", Mode: ApprovalEnforce}, warn, ApprovalWarn},
		{"server off", Approval{LockFile: "l.yaml"}, &Server{Name: "c", Approval: ApprovalOff}, ApprovalOff},
	}
	for _, tt := range tests {
		c := &Config{Approval: tt.approval}
		if got := c.ApprovalMode(tt.server); got != tt.want {
			t.Errorf("%s: ApprovalMode = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRateLimitRules(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct{ yaml, path, msg string }{
		"unknown per": {"limits: {rate: [{per: ip, requests_per_minute: 60}]}\n" + minimal, "limits.rate[0].per", `"ip" is not supported: use one of [user user_tool client server]`},
		"zero rate":   {"limits: {rate: [{per: user, requests_per_minute: 0}]}\n" + minimal, "limits.rate[0].requests_per_minute", "must be greater than 0"},
		"no rate":     {"limits: {rate: [{per: user}]}\n" + minimal, "limits.rate[0].requests_per_minute", "must be greater than 0"},
		"negative":    {"limits: {rate: [{per: user, requests_per_minute: 60, burst: -1}]}\n" + minimal, "limits.rate[0].burst", "must be greater than 0"},
		"twice per":   {"limits: {rate: [{per: user, requests_per_minute: 60}, {per: user, requests_per_minute: 6}]}\n" + minimal, "limits.rate[1].per", `"user" is already used by limits.rate[0]`},
		"unknown key": {"limits: {rate: [{per: user, rpm: 60}]}\n" + minimal, "limits.rate[0].rpm", "unknown key"},
	} {
		_, err := Parse([]byte(tt.yaml), "t.yaml")
		var ve *ValidationError
		if !errors.As(err, &ve) || !hasProblem(ve.Problems, tt.path, tt.msg) {
			t.Errorf("%s: %v, want %s: %s", name, err, tt.path, tt.msg)
		}
	}
	c, err := Parse([]byte("limits: {rate: [{per: user, requests_per_minute: 600}, {per: user_tool, requests_per_minute: 30, burst: 5}]}\n"+minimal), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Limits.Rate; len(got) != 2 || got[0].EffectiveBurst() != 600 || got[1].EffectiveBurst() != 5 {
		t.Errorf("rate %+v", got)
	}
}

func hasProblem(ps []Problem, path, msg string) bool {
	for _, p := range ps {
		if p.Path == path && strings.Contains(p.Message, msg) {
			return true
		}
	}
	return false
}
