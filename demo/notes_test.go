package demo

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inputSchema is the part of a tool's input schema the tests check.
type inputSchema struct {
	Type       string                                  `json:"type"`
	Required   []string                                `json:"required"`
	Properties map[string]struct{ Description string } `json:"properties"`
}

func decodeSchema(t *testing.T, schema any) inputSchema {
	t.Helper()
	var s inputSchema
	remarshal(t, schema, &s)
	return s
}

func TestNotesListings(t *testing.T) {
	t.Parallel()
	s := startServer(t, "notes", NewNotes())
	wantTools := map[string]struct {
		required    []string
		annotations mcp.ToolAnnotations
	}{
		"list_notes": {annotations: mcp.ToolAnnotations{Title: "List notes", ReadOnlyHint: true, OpenWorldHint: new(false)}},
		"read_note":  {required: []string{"id"}, annotations: mcp.ToolAnnotations{Title: "Read a note", ReadOnlyHint: true, OpenWorldHint: new(false)}},
		"write_note": {required: []string{"body", "id"}, annotations: mcp.ToolAnnotations{
			Title: "Write a note", DestructiveHint: new(false), IdempotentHint: true, OpenWorldHint: new(false),
		}},
		"delete_note": {required: []string{"id"}, annotations: mcp.ToolAnnotations{
			Title: "Delete a note", DestructiveHint: new(true), OpenWorldHint: new(false),
		}},
	}
	for era := range eras() {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			cs := connect(t, newClient(nil), s.URL, era)
			tools, err := cs.ListTools(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(tools.Tools) != len(wantTools) {
				t.Errorf("got %d tools, want %d", len(tools.Tools), len(wantTools))
			}
			for _, tool := range tools.Tools {
				want, ok := wantTools[tool.Name]
				if !ok {
					t.Errorf("unexpected tool %q", tool.Name)
					continue
				}
				schema := decodeSchema(t, tool.InputSchema)
				slices.Sort(schema.Required)
				if schema.Type != "object" || !slices.Equal(schema.Required, want.required) {
					t.Errorf("%s: schema type %q, required %q; want object, %q", tool.Name, schema.Type, schema.Required, want.required)
				}
				for prop, p := range schema.Properties {
					if p.Description == "" {
						t.Errorf("%s: property %q has no description", tool.Name, prop)
					}
				}
				if diff := cmp.Diff(&want.annotations, tool.Annotations); diff != "" {
					t.Errorf("%s annotations (-want +got):\n%s", tool.Name, diff)
				}
				if tool.OutputSchema == nil || tool.Description == "" {
					t.Errorf("%s: missing output schema or description", tool.Name)
				}
			}
			checkNoteFeatures(t, cs)
		})
	}
}

// checkNoteFeatures checks the seeded resources, the template and the prompt.
func checkNoteFeatures(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	ctx := t.Context()
	res, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"notes://note/release-checklist", "notes://note/runbook", "notes://note/welcome"}
	if diff := cmp.Diff(want, resourceURIs(res.Resources)); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	templates, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(templates.ResourceTemplates) != 1 || templates.ResourceTemplates[0].URITemplate != "notes://note/{id}" {
		t.Errorf("resource templates = %+v, want one notes://note/{id}", templates.ResourceTemplates)
	}
	prompts, err := cs.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPrompt := &mcp.Prompt{
		Name: "summarize_note", Title: "Summarise a note", Description: "Asks the model to summarise the body of one note.",
		Arguments: []*mcp.PromptArgument{{Name: "id", Description: "the note id", Required: true}},
	}
	if diff := cmp.Diff([]*mcp.Prompt{wantPrompt}, prompts.Prompts); diff != "" {
		t.Errorf("prompts (-want +got):\n%s", diff)
	}
	caps := cs.InitializeResult().Capabilities
	if caps.Resources == nil || !caps.Resources.Subscribe || !caps.Resources.ListChanged {
		t.Errorf("resources capability = %+v, want subscribe and listChanged", caps.Resources)
	}
}

func resourceURIs(rs []*mcp.Resource) []string {
	uris := make([]string, 0, len(rs))
	for _, r := range rs {
		uris = append(uris, r.URI)
	}
	slices.Sort(uris)
	return uris
}

func TestNotesToolCalls(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		tool     string
		args     map[string]any
		wantErr  bool
		wantText string // a substring of the first text content
	}{
		"list":                 {tool: "list_notes", wantText: "runbook: On-call runbook\n"},
		"read":                 {tool: "read_note", args: map[string]any{"id": "welcome"}, wantText: "notes demo server"},
		"read unknown":         {tool: "read_note", args: map[string]any{"id": "nope"}, wantErr: true, wantText: `no note with id "nope"`},
		"read bad id":          {tool: "read_note", args: map[string]any{"id": "Bad_ID"}, wantErr: true, wantText: "invalid note id"},
		"read long id":         {tool: "read_note", args: map[string]any{"id": strings.Repeat("a", 65)}, wantErr: true, wantText: "invalid note id"},
		"read missing id":      {tool: "read_note", args: map[string]any{}, wantErr: true, wantText: "id"},
		"write":                {tool: "write_note", args: map[string]any{"id": "new-1", "body": "hi"}, wantText: `Created note "new-1"`},
		"write replace":        {tool: "write_note", args: map[string]any{"id": "runbook", "body": "x"}, wantText: `Replaced note "runbook"`},
		"write max body":       {tool: "write_note", args: map[string]any{"id": "big", "body": strings.Repeat("b", 64<<10)}, wantText: "Created"},
		"write oversized body": {tool: "write_note", args: map[string]any{"id": "big", "body": strings.Repeat("b", 64<<10+1)}, wantErr: true, wantText: "too large"},
		"write long title":     {tool: "write_note", args: map[string]any{"id": "t", "title": strings.Repeat("t", 201), "body": ""}, wantErr: true, wantText: "title too long"},
		"write bad id":         {tool: "write_note", args: map[string]any{"id": "../etc", "body": "x"}, wantErr: true, wantText: "invalid note id"},
		"write missing body":   {tool: "write_note", args: map[string]any{"id": "x"}, wantErr: true, wantText: "body"},
		"delete":               {tool: "delete_note", args: map[string]any{"id": "welcome"}, wantText: `Deleted note "welcome"`},
		"delete unknown":       {tool: "delete_note", args: map[string]any{"id": "nope"}, wantErr: true, wantText: "not found"},
	}
	for era := range eras() {
		for name, tt := range tests {
			t.Run(era+"/"+name, func(t *testing.T) {
				t.Parallel()
				s := startServer(t, "notes", NewNotes()) // fresh store: cases mutate it
				cs := connect(t, newClient(nil), s.URL, era)
				res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
				if err != nil {
					t.Fatalf("CallTool: %v", err)
				}
				text := firstText(t, res)
				if res.IsError != tt.wantErr || !strings.Contains(text, tt.wantText) {
					t.Errorf("IsError %t, text %.100q; want IsError %t, text containing %q", res.IsError, text, tt.wantErr, tt.wantText)
				}
				if !tt.wantErr && res.StructuredContent == nil {
					t.Error("no structured content")
				}
			})
		}
	}
}

func firstText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) == 0 {
		t.Fatal("result has no content")
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content[0] is %T, want text", res.Content[0])
	}
	return tc.Text
}

func TestNotesStructuredOutput(t *testing.T) {
	t.Parallel()
	s := startServer(t, "notes", NewNotes())
	seeded := seedNotes()
	wantList := listNotesOutput{}
	for _, id := range []int{2, 1, 0} { // sorted by id
		n := seeded[id]
		wantList.Notes = append(wantList.Notes, noteSummary{ID: n.ID, Title: n.Title, URI: noteURI(n.ID)})
	}
	tests := map[string]struct {
		tool string
		args map[string]any
		want any
	}{
		"list_notes": {tool: "list_notes", want: wantList},
		"read_note":  {tool: "read_note", args: map[string]any{"id": "welcome"}, want: seeded[0]},
	}
	for era := range eras() {
		for name, tt := range tests {
			t.Run(era+"/"+name, func(t *testing.T) {
				t.Parallel()
				cs := connect(t, newClient(nil), s.URL, era)
				res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(asMap(t, tt.want), res.StructuredContent); diff != "" {
					t.Errorf("structured content (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestNotesPrompt(t *testing.T) {
	t.Parallel()
	s := startServer(t, "notes", NewNotes())
	tests := map[string]struct {
		args     map[string]string
		wantErr  bool
		wantText string
	}{
		"runbook":    {args: map[string]string{"id": "runbook"}, wantText: "2. Look for deny reasons"},
		"unknown id": {args: map[string]string{"id": "nope"}, wantErr: true},
		"missing id": {args: nil, wantErr: true},
	}
	for era := range eras() {
		for name, tt := range tests {
			t.Run(era+"/"+name, func(t *testing.T) {
				t.Parallel()
				cs := connect(t, newClient(nil), s.URL, era)
				res, err := cs.GetPrompt(t.Context(), &mcp.GetPromptParams{Name: "summarize_note", Arguments: tt.args})
				if (err != nil) != tt.wantErr {
					t.Fatalf("GetPrompt error = %v, want error %t", err, tt.wantErr)
				}
				if err != nil {
					return
				}
				if len(res.Messages) != 1 || res.Messages[0].Role != "user" {
					t.Fatalf("messages = %+v, want one user message", res.Messages)
				}
				text := res.Messages[0].Content.(*mcp.TextContent).Text
				if !strings.HasPrefix(text, "Summarise the note") || !strings.Contains(text, tt.wantText) {
					t.Errorf("prompt text %q does not ask to summarise %q", text, tt.wantText)
				}
			})
		}
	}
}
