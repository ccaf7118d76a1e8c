package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleSecretPath is the value_from_file path in the shipped example; the
// test points it at a temporary file, as config's example test does.
const exampleSecretPath = "/var/run/secrets/tickets/client-secret"

// exampleConfig writes a copy of the shipped example whose secret sources
// resolve here, and returns its path.
func exampleConfig(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../mcpgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(exampleSecretPath)) {
		t.Fatalf("example no longer mentions %s", exampleSecretPath)
	}
	dir := t.TempDir()
	secret := writeFile(t, dir, "client-secret", "s3cret\n")
	data = bytes.ReplaceAll(data, []byte(exampleSecretPath), []byte(secret))
	t.Setenv("NOTES_API_KEY", "k3y")
	return writeFile(t, dir, "mcpgate.yaml", string(data))
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// badConfig has a problem in several places.
const badConfig = `
listen: nowhere
shutdown_grace: -1s
servers:
  - name: Notes
    url: http://notes.example/mcp
  - name: tickets
    url: https://tickets.example/mcp
    timeout: soon
`

var badConfigPaths = []string{"listen", "shutdown_grace", "servers[0].name", "servers[0].url", "servers[1].timeout"}

func TestValidateExample(t *testing.T) {
	path := exampleConfig(t)
	code, stdout, stderr := runCLI(t, nil, "validate", "--config", path)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr)
	}
	if want := "ok: " + path + " is valid (2 servers: notes, tickets)\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestValidateMissingHeaderSource(t *testing.T) {
	path := exampleConfig(t)
	t.Setenv("NOTES_API_KEY", "")
	os.Unsetenv("NOTES_API_KEY")
	code, _, stderr := runCLI(t, nil, "validate", "--config", path)
	if code != exitFail || !strings.Contains(stderr, "servers[0].auth.headers[0].value_from_env: ") || !strings.Contains(stderr, "NOTES_API_KEY") {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1 and the unset variable named", code, stderr)
	}
}

func TestValidateInvalid(t *testing.T) {
	t.Parallel()
	path := writeFile(t, t.TempDir(), "bad.yaml", badConfig)
	tests := map[string]struct {
		args []string
		vars map[string]string
	}{
		"flag":           {[]string{"validate", "--config", path}, nil},
		"MCPGATE_CONFIG": {[]string{"validate"}, map[string]string{"MCPGATE_CONFIG": path}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, tt.vars, tt.args...)
			if code != exitFail || stdout != "" {
				t.Errorf("exit code %d, stdout %q; want 1 and nothing", code, stdout)
			}
			checkProblems(t, stderr, badConfigPaths)
		})
	}
}

// checkProblems checks that stderr has a "path: message" line per path.
func checkProblems(t *testing.T, stderr string, paths []string) {
	t.Helper()
	for _, p := range paths {
		if !strings.Contains(stderr, "\n"+p+": ") {
			t.Errorf("stderr lacks a problem for %s:\n%s", p, stderr)
		}
	}
}

// A valid document naming files that cannot be read is invalid here: the
// files are read as serve reads them, and reported with their key paths.
func TestValidateUnreadableFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	path := writeFile(t, dir, "mcpgate.yaml", "session_key_file: "+missing+`
servers:
  - name: notes
    url: https://notes.example/mcp
    headers: [{name: Authorization, value_from_file: `+missing+`}]
policy:
  opa_config_file: `+missing+`
store: {kind: postgres, dsn_from_file: `+missing+`}
`)
	code, stdout, stderr := runCLI(t, nil, "validate", "--config", path)
	if code != exitFail || stdout != "" {
		t.Errorf("exit code %d, stdout %q; want 1 and nothing", code, stdout)
	}
	checkProblems(t, stderr, []string{"session_key_file", "servers[0].headers[0].value_from_file", "policy.opa_config_file", "store.dsn_from_file"})
	if !strings.Contains(stderr, "session_key_file: cannot read \""+missing+"\": no such file or directory") {
		t.Errorf("stderr does not say why session_key_file cannot be read:\n%s", stderr)
	}
}

// Sealed sessions without a store are refused, as serve refuses them.
func TestValidateSealedSessionsNeedAStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := writeFile(t, dir, "keys", base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n")
	path := writeFile(t, dir, "mcpgate.yaml", "session_key_file: "+keys+`
servers:
  - name: notes
    url: https://notes.example/mcp
`)
	code, _, stderr := runCLI(t, nil, "validate", "--config", path)
	if code != exitFail || !strings.Contains(stderr, "store: session_key_file seals sessions") {
		t.Errorf("exit code %d, stderr %q; want 1 and a store problem", code, stderr)
	}
}

func TestValidateMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent.yaml")
	code, _, stderr := runCLI(t, nil, "validate", "--config", path)
	if code != exitFail || !strings.Contains(stderr, path) {
		t.Errorf("exit code %d, stderr %q; want 1 and the path", code, stderr)
	}
}
