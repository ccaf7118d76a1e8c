package e2e

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/testtools/everything"
)

// TestServerEverythingBehindGateway puts the TypeScript reference server,
// which nobody here wrote, behind mcpgate and uses it with a go-sdk client
// in both protocol eras.
func TestServerEverythingBehindGateway(t *testing.T) {
	t.Parallel()
	gw := startGateway(t, everything.StartServerEverythingTS(t), false)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var mu sync.Mutex
			var progress []float64
			c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
					mu.Lock()
					progress = append(progress, req.Params.Progress)
					mu.Unlock()
				},
			})
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw}, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()

			var names []string
			for tool, err := range cs.Tools(ctx, nil) {
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, tool.Name)
			}
			for _, want := range []string{"upstream__echo", "upstream__get-sum", "upstream__trigger-long-running-operation"} {
				if !slices.Contains(names, want) {
					t.Errorf("tool %s missing from %v", want, names)
				}
			}

			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "upstream__echo", Arguments: map[string]any{"message": "hello through mcpgate"}})
			if err != nil || res.IsError || !strings.Contains(text(res), "hello through mcpgate") {
				t.Fatalf("echo: %v %+v", err, res)
			}

			params := &mcp.CallToolParams{Name: "upstream__trigger-long-running-operation", Arguments: map[string]any{"duration": 1, "steps": 3}}
			params.SetProgressToken("e2e-progress")
			res, err = cs.CallTool(ctx, params)
			if err != nil || res.IsError {
				t.Fatalf("long-running operation: %v %+v", err, res)
			}
			// The go-sdk client runs notification handlers asynchronously, so
			// the last one may run just after CallTool returned.
			var got []float64
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				mu.Lock()
				got = slices.Clone(progress)
				mu.Unlock()
				if len(got) >= 3 {
					break
				}
			}
			if !slices.Equal(got, []float64{1, 2, 3}) {
				t.Errorf("progress notifications %v, want [1 2 3]", got)
			}

			var read bool
			for r, err := range cs.Resources(ctx, nil) {
				if err != nil {
					t.Fatal(err)
				}
				rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: r.URI})
				if err != nil || len(rr.Contents) == 0 {
					t.Fatalf("read %s: %v", r.URI, err)
				}
				read = true
				break
			}
			if !read {
				t.Error("server-everything listed no resources through the gateway")
			}

			prompt, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "upstream__simple-prompt"})
			if err != nil || len(prompt.Messages) == 0 {
				t.Errorf("simple-prompt: %v %+v", err, prompt)
			}
		})
	}
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
