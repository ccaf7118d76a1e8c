package charttest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/rego"
)

// gatewayPolicy loads the rendered policy ConfigMap the way the gateway in
// the pod does (TestRenderedConfigIsAccepted checks that the gateway accepts
// the rendered mcpgate.yaml): its policy.library says which library to use, the
// ConfigMap's files are the policy directory. It returns the engine and the
// error of LoadDir.
func gatewayPolicy(t *testing.T, values string) (*policy.Engine, error) {
	t.Helper()
	r := mustRender(t, minimal+values)
	var opts policy.Options
	if lookup(t, r.gatewayConfig(t), "policy", "library") == config.PolicyLibraryBuiltin {
		var err error
		if opts.Library, err = rego.Modules(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for name, content := range r.configMap(t, fullname+"-policy").Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := policy.NewEngine(opts)
	return e, e.LoadDir(dir)
}

// callInput is alice (engineering, or the given groups) calling a tool of
// server.
func callInput(server string, groups ...string) *policy.Input {
	return &policy.Input{
		Phase:  policy.PhaseCall,
		Method: "tools/call",
		User:   policy.User{Sub: "alice", Iss: "https://login.example.com", Groups: groups},
		Token:  policy.Token{Scopes: []string{"mcp"}},
		Server: &policy.Server{Name: server},
		Tool:   &policy.Tool{Name: server + "__search", UpstreamName: "search", Server: server},
	}
}

// TestPolicyRunsWithBuiltinLibrary: the policy ConfigMap holds only the
// organisation's data and own rules, and with the library built into the
// gateway it decides as the data says.
func TestPolicyRunsWithBuiltinLibrary(t *testing.T) {
	e, err := gatewayPolicy(t, `
policy:
  values:
    data:
      groups:
        engineering:
          servers: {notes: {tools: {"*": all}}}
    files:
      acme.rego: |
        package mcpgate.authz

        deny contains "contractors may not call tools" if "contractors" in input.user.groups
`)
	if err != nil {
		t.Fatalf("the gateway would not load the rendered policy: %v", err)
	}
	ctx := context.Background()
	if d := e.Decide(ctx, callInput("notes", "engineering")); !d.Allow {
		t.Errorf("engineering on notes: %+v, want allowed by the library's group grant", d)
	}
	if d := e.Decide(ctx, callInput("hr", "engineering")); d.Allow {
		t.Errorf("engineering on hr: %+v, want deny", d)
	}
	if d := e.Decide(ctx, callInput("notes", "engineering", "contractors")); d.Allow || !slices.Contains(d.Reasons, "contractors may not call tools") {
		t.Errorf("contractor: %+v, want denied by the organisation's own rule", d)
	}
	if got := e.Status().Source; !strings.HasPrefix(got, "library+dir:") {
		t.Errorf("Source = %q, want the library with the directory", got)
	}
}

// TestPolicyShadowingTheLibraryIsRefused: the chart keeps no list of the
// library's files; a policy file named like one is refused by the gateway,
// with both names.
func TestPolicyShadowingTheLibraryIsRefused(t *testing.T) {
	_, err := gatewayPolicy(t, "policy: {values: {files: {authz.rego: 'package acme'}}}")
	if err == nil || !strings.Contains(err.Error(), "authz.rego has the name of the library's module library:authz.rego") {
		t.Errorf("LoadDir = %v, want the name clash reported", err)
	}
}
