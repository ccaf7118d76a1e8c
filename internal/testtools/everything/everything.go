package everything

import (
	"net"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/node"
)

// StartEverythingServer starts the go-sdk conformance fixture
// (everything-server) on a loopback port, waits until it accepts
// connections, and returns its MCP endpoint URL ("http://127.0.0.1:PORT/";
// the fixture serves MCP at every path). stateless=false starts the legacy
// stateful streamable HTTP server (sessions, 2025-11-25 and earlier);
// stateless=true the stateless one (2026-07-28). The server is killed in
// t.Cleanup.
func StartEverythingServer(t testing.TB, stateless bool) string {
	t.Helper()
	bin := EverythingServerBin(t)
	mode := "-stateless=false"
	if stateless {
		mode = "-stateless=true"
	}
	addr := testtools.StartListening(t, "everything-server "+mode, func(addr string) *exec.Cmd {
		cmd := exec.Command(bin, "-http", addr, mode)
		cmd.Env = []string{"HOME=" + t.TempDir()}
		return cmd
	})
	return "http://" + addr + "/"
}

// ServerEverythingTSPackage is the npm prefix (under testtools.NPMDir) holding
// @modelcontextprotocol/server-everything.
const ServerEverythingTSPackage = "server-everything-2026.8.31"

// StartServerEverythingTS starts the TypeScript reference server
// @modelcontextprotocol/server-everything (streamable HTTP transport) under
// Node 22 with PORT set to a free port, and returns its endpoint
// "http://127.0.0.1:PORT/mcp" once it accepts connections.
//
// The server listens on all interfaces; talk to it only through the
// returned loopback URL. It runs with a clean environment (PATH with node
// 22's directory, a temporary HOME): its get-env tool returns every
// variable it sees. Its process group is killed in t.Cleanup.
func StartServerEverythingTS(t testing.TB) string {
	t.Helper()
	node22 := node.Node22(t)
	script := node.NPMPackageBin(t, ServerEverythingTSPackage, "mcp-server-everything")
	addr := testtools.StartListening(t, "server-everything (TypeScript)", func(addr string) *exec.Cmd {
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(node22, script, "streamableHttp")
		cmd.Env = append(node.Env(t, node22), "PORT="+port)
		cmd.Dir = t.TempDir()
		return cmd
	})
	return "http://" + addr + "/mcp"
}

// EverythingServerBin returns the path of the go-sdk conformance fixture
// (github.com/modelcontextprotocol/go-sdk/conformance/everything-server).
func EverythingServerBin(t testing.TB) string {
	t.Helper()
	p := filepath.Join(testtools.ToolsBin(), "everything-server")
	if err := testtools.IsExecutable(p); err != nil {
		testtools.Missing(t, "everything-server (go-sdk conformance fixture)", err.Error())
	}
	return p
}
