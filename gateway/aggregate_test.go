package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpgate/mcpgate/demo"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func startDemo(t *testing.T) (notes, hr *demo.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	servers, err := demo.StartAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Close()
		}
	})
	return servers[0], servers[1]
}

func TestAggregatesDemoUpstreams(t *testing.T) {
	t.Parallel()
	notes, hr := startDemo(t)
	gw := startGateway(t, nil, upstreamConfig("notes", notes.URL), upstreamConfig("hr", hr.URL))
	for name, version := range eras {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cs := connect(t, gw.URL, version, nil)
			ctx := ctxTimeout(t)
			got := toolNames(t, cs)
			slices.Sort(got)
			want := []string{"hr__lookup_employee", "hr__salary_report", "notes__delete_note",
				"notes__list_notes", "notes__read_note", "notes__write_note"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tools (-want +got):\n%s", diff)
			}

			id := "from-" + strings.ReplaceAll(name, "-", "")
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "notes__write_note",
				Arguments: map[string]any{"id": id, "title": "T", "body": "written through the gateway"}})
			if err != nil || res.IsError {
				t.Fatalf("write_note: %v %v", err, res)
			}
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "notes__read_note", Arguments: map[string]any{"id": id}})
			if err != nil || res.IsError {
				t.Fatalf("read_note: %v %+v", err, res)
			}
			if got := textOf(t, res); !strings.Contains(got, "written through the gateway") {
				t.Errorf("read_note text = %q", got)
			}
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "notes__read_note", Arguments: map[string]any{"id": "no-such-note"}})
			if err != nil || !res.IsError {
				t.Errorf("read_note of a missing note: err=%v isError=%v, want a tool error", err, res != nil && res.IsError)
			}

			prompt, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "notes__summarize_note", Arguments: map[string]string{"id": "welcome"}})
			if err != nil || len(prompt.Messages) == 0 {
				t.Fatalf("get prompt: %v %+v", err, prompt)
			}

			rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "notes://note/welcome"})
			if err != nil || len(rr.Contents) == 0 || rr.Contents[0].Text == "" {
				t.Fatalf("read resource: %v %+v", err, rr)
			}
			// Through the template: a note written after the listing.
			rr, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "notes://note/" + id})
			if err != nil || !strings.Contains(rr.Contents[0].Text, "written through the gateway") {
				t.Fatalf("read resource via template: %v %+v", err, rr)
			}
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///etc/passwd"}); err == nil {
				t.Error("reading a URI no upstream offers succeeded")
			}
			if version == modern {
				// Views are per caller: 2026-07-28 results say so.
				lt, err := cs.ListTools(ctx, nil)
				if err != nil || lt.CacheScope != "private" {
					t.Errorf("tools/list cacheScope %q (%v), want private", lt.CacheScope, err)
				}
			}
			tmpls, err := cs.ListResourceTemplates(ctx, nil)
			if err != nil || len(tmpls.ResourceTemplates) != 1 {
				t.Fatalf("list templates: %v %+v", err, tmpls)
			}
		})
	}
}

func TestToolDefinitionsPassThrough(t *testing.T) {
	t.Parallel()
	notes, _ := startDemo(t)
	direct := connect(t, notes.URL, legacy, nil)
	gw := startGateway(t, nil, upstreamConfig("notes", notes.URL))
	viaGW := connect(t, gw.URL, legacy, nil)
	want := map[string]*mcp.Tool{}
	for tool, err := range direct.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		want["notes__"+tool.Name] = tool
	}
	if len(want) < 4 {
		t.Fatalf("the notes upstream lists %d tools, want its 4", len(want))
	}
	for tool, err := range viaGW.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		w := want[tool.Name]
		if w == nil {
			t.Fatalf("unexpected tool %q", tool.Name)
		}
		delete(want, tool.Name)
		tool.Name = w.Name
		if diff := cmp.Diff(mustJSON(w), mustJSON(tool)); diff != "" {
			t.Errorf("tool %s differs from the upstream's (-upstream +gateway):\n%s", w.Name, diff)
		}
	}
	for name := range want {
		t.Errorf("the gateway does not list the upstream's tool as %s", name)
	}
}

// manyTools returns a server with n tools named tool-000 … and one prompt.
func manyTools(name string, n int) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: name}, &mcp.ServerOptions{PageSize: 7})
	for i := range n {
		toolName := fmt.Sprintf("tool-%03d", i)
		s.AddTool(&mcp.Tool{Name: toolName, InputSchema: json.RawMessage(`{"type":"object"}`)},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + "/" + toolName}}}, nil
			})
	}
	return s
}

func TestPaginationBothSides(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, manyTools("big", 250))
	opts := testOptions()
	opts.PageSize = 40
	gw := startGateway(t, opts, upstreamConfig("big", up.URL))
	for name, version := range eras {
		t.Run(name, func(t *testing.T) {
			cs := connect(t, gw.URL, version, nil)
			page, err := cs.ListTools(ctxTimeout(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			if page.NextCursor == "" || len(page.Tools) >= 250 {
				t.Errorf("first page has %d tools and cursor %q; want a paginated list", len(page.Tools), page.NextCursor)
			}
			if got := toolNames(t, cs); len(got) != 250 {
				t.Errorf("listed %d tools over all pages, want 250", len(got))
			}
			res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "big__tool-249"})
			if err != nil || textOf(t, res) != "big/tool-249" {
				t.Errorf("call big__tool-249: %v %v", err, res)
			}
		})
	}
}
