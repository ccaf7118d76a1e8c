package config

import (
	"strings"
	"testing"
)

const consoleWeb = webIssuer + "web_sign_in: {enabled: true, client_id: gw, client_secret: {value_from_env: WEB_SECRET}}\n"

func TestConsoleValid(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, consoleWeb+"console: {enabled: true}\n"+minimal)
	if !cfg.Console.Enabled || cfg.ConsoleBaseURL() != "https://mcp.example.com" || cfg.ConsoleRecentDecisions() != DefaultConsoleRecentDecisions {
		t.Errorf("console on the main listener: enabled %v, base %q, recent %d", cfg.Console.Enabled, cfg.ConsoleBaseURL(), cfg.ConsoleRecentDecisions())
	}
	cfg = mustParse(t, consoleWeb+"console: {enabled: true, listen_address: '0.0.0.0:9443', public_url: 'https://admin.example.com/', recent_decisions: 50, trace_url: 'https://jaeger.example.com/trace/{trace_id}'}\n"+minimal)
	if cfg.ConsoleBaseURL() != "https://admin.example.com" || cfg.ConsoleRecentDecisions() != 50 {
		t.Errorf("console on its listener: base %q, recent %d", cfg.ConsoleBaseURL(), cfg.ConsoleRecentDecisions())
	}
}

func TestConsoleDisabledIgnored(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, "console: {recent_decisions: -5, listen_address: nowhere}\n"+minimal)
	if cfg.Console.Enabled {
		t.Fatal("enabled without enabled: true")
	}
}

func TestConsoleProblems(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ yaml, path, msg string }{
		"no web sign-in":   {webIssuer + "console: {enabled: true}\n", "console.enabled", "needs web_sign_in"},
		"too many":         {consoleWeb + "console: {enabled: true, recent_decisions: 20001}\n", "console.recent_decisions", "out of range"},
		"negative":         {consoleWeb + "console: {enabled: true, recent_decisions: -1}\n", "console.recent_decisions", "out of range"},
		"bad address":      {consoleWeb + "console: {enabled: true, listen_address: 'admin', public_url: 'https://a.example'}\n", "console.listen_address", "not a valid address"},
		"main address":     {consoleWeb + "listen: '127.0.0.1:8080'\nconsole: {enabled: true, listen_address: '127.0.0.1:8080', public_url: 'https://a.example'}\n", "console.listen_address", "main listener's address"},
		"no public url":    {consoleWeb + "console: {enabled: true, listen_address: '127.0.0.1:9443'}\n", "console.public_url", "is required with console.listen_address"},
		"bad public url":   {consoleWeb + "console: {enabled: true, listen_address: '127.0.0.1:9443', public_url: 'admin.example.com'}\n", "console.public_url", "is not valid"},
		"public url path":  {consoleWeb + "console: {enabled: true, listen_address: '127.0.0.1:9443', public_url: 'https://a.example/admin'}\n", "console.public_url", "must not have a path"},
		"trace url":        {consoleWeb + "console: {enabled: true, trace_url: 'https://jaeger.example.com/trace'}\n", "console.trace_url", "must contain {trace_id}"},
		"trace url scheme": {consoleWeb + "console: {enabled: true, trace_url: 'javascript:alert(1)//{trace_id}'}\n", "console.trace_url", "is not valid"},
		"main url path":    {strings.Replace(consoleWeb, "public_url: https://mcp.example.com", "public_url: https://mcp.example.com/gw", 1) + "console: {enabled: true}\n", "console.enabled", "has a path"},
		"url without addr": {consoleWeb + "console: {enabled: true, public_url: 'https://a.example'}\n", "console.public_url", "only for console.listen_address"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tt.yaml+minimal), tt.path, tt.msg)
		})
	}
}
