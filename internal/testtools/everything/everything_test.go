package everything_test

import (
	"context"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/testtools/everything"
)

// TestServerEverythingTS checks that a go-sdk client can talk to the
// TypeScript reference server.
func TestServerEverythingTS(t *testing.T) {
	t.Parallel()
	u := everything.StartServerEverythingTS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-testtools", Version: "0"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: u}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", u, err)
	}
	defer cs.Close()
	if ir := cs.InitializeResult(); ir == nil || ir.ServerInfo == nil {
		t.Fatalf("no initialize result")
	} else {
		t.Logf("server %s %s, protocol %s", ir.ServerInfo.Name, ir.ServerInfo.Version, ir.ProtocolVersion)
	}
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		names = append(names, tool.Name)
	}
	t.Logf("tools: %v", names)
	if !slices.Contains(names, "echo") {
		t.Fatalf("tool echo missing from %v", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi"}})
	if err != nil {
		t.Fatalf("call echo: %v", err)
	}
	if res.IsError || len(res.Content) == 0 {
		t.Fatalf("echo result: %+v", res)
	}
}

// TestCleanupKillsServer checks that a server started in a subtest is gone
// once the subtest's cleanups ran.
func TestCleanupKillsServer(t *testing.T) {
	t.Parallel()
	var addr string
	t.Run("start", func(t *testing.T) {
		u := everything.StartEverythingServer(t, true)
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if h := pu.Hostname(); h != "127.0.0.1" {
			t.Fatalf("server URL %s is not on 127.0.0.1", u)
		}
		addr = pu.Host
	})
	if addr == "" {
		t.Skip("server did not start")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after cleanup", addr)
	}
}
