package config

import (
	"os/exec"
	"strings"
	"testing"
)

// config is the YAML model: it must stay importable without the runtime's
// libraries. Shared rules live in internal/authrule, which imports only
// the standard library.
func TestDependencies(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{"github.com/mcpgate/mcpgate/authn", "github.com/mcpgate/mcpgate/gateway",
		"github.com/mcpgate/mcpgate/policy", "github.com/mcpgate/mcpgate/telemetry",
		"github.com/coreos/go-oidc", "github.com/go-jose", "github.com/modelcontextprotocol/go-sdk",
		"go.opentelemetry.io", "github.com/open-policy-agent"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("config depends on %s", dep)
			}
		}
	}
}
