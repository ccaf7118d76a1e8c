package demo

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// version is the implementation version both demo servers report.
const version = "dev"

// notes binds a note store to the MCP server that publishes it.
type notes struct {
	store  *noteStore
	server *mcp.Server
}

type noteIDInput struct {
	ID string `json:"id" jsonschema:"the note id: 1 to 64 characters from a-z, 0-9 and '-'"`
}

type writeNoteInput struct {
	ID    string `json:"id" jsonschema:"the note id: 1 to 64 characters from a-z, 0-9 and '-'"`
	Title string `json:"title,omitempty" jsonschema:"the note title, at most 200 bytes; defaults to the id"`
	Body  string `json:"body" jsonschema:"the note body, at most 64 KiB"`
}

type noteSummary struct {
	ID    string `json:"id" jsonschema:"the note id"`
	Title string `json:"title" jsonschema:"the note title"`
	URI   string `json:"uri" jsonschema:"the note's resource URI"`
}

type listNotesOutput struct {
	Notes []noteSummary `json:"notes" jsonschema:"every note, sorted by id"`
}

type writeNoteOutput struct {
	ID      string `json:"id" jsonschema:"the note id"`
	URI     string `json:"uri" jsonschema:"the note's resource URI"`
	Created bool   `json:"created" jsonschema:"true if the note is new, false if it was replaced"`
}

type deleteNoteOutput struct {
	ID string `json:"id" jsonschema:"the id of the deleted note"`
}

// NewNotes returns the notes demo server with a fresh store holding the seed
// notes "welcome", "runbook" and "release-checklist".
func NewNotes() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "notes", Title: "mcpgate demo notes", Version: version},
		&mcp.ServerOptions{
			Instructions:       "An in-memory notes store. Notes are also resources at notes://note/{id}.",
			Capabilities:       &mcp.ServerCapabilities{}, // no logging; the rest is inferred
			SubscribeHandler:   subscribeNote,
			UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		})
	n := &notes{store: newNoteStore(seedNotes()), server: srv}
	n.addTools()
	n.addResources()
	srv.AddPrompt(&mcp.Prompt{
		Name:        "summarize_note",
		Title:       "Summarise a note",
		Description: "Asks the model to summarise the body of one note.",
		Arguments:   []*mcp.PromptArgument{{Name: "id", Description: "the note id", Required: true}},
	}, n.summarizePrompt)
	return srv
}

func (n *notes) addTools() {
	mcp.AddTool(n.server, &mcp.Tool{
		Name:        "list_notes",
		Description: "Lists the id and title of every note.",
		Annotations: &mcp.ToolAnnotations{Title: "List notes", ReadOnlyHint: true, OpenWorldHint: new(false)},
	}, n.listNotes)
	mcp.AddTool(n.server, &mcp.Tool{
		Name:        "read_note",
		Description: "Returns the body of one note.",
		Annotations: &mcp.ToolAnnotations{Title: "Read a note", ReadOnlyHint: true, OpenWorldHint: new(false)},
	}, n.readNote)
	mcp.AddTool(n.server, &mcp.Tool{
		Name:        "write_note",
		Description: "Creates a note, or replaces the note with the same id.",
		Annotations: &mcp.ToolAnnotations{
			Title: "Write a note", DestructiveHint: new(false), IdempotentHint: true, OpenWorldHint: new(false),
		},
	}, n.writeNote)
	mcp.AddTool(n.server, &mcp.Tool{
		Name:        "delete_note",
		Description: "Deletes one note.",
		Annotations: &mcp.ToolAnnotations{Title: "Delete a note", DestructiveHint: new(true), OpenWorldHint: new(false)},
	}, n.deleteNote)
}

func (n *notes) listNotes(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, listNotesOutput, error) {
	all := n.store.list()
	out := listNotesOutput{Notes: make([]noteSummary, 0, len(all))}
	var text strings.Builder
	for _, nt := range all {
		out.Notes = append(out.Notes, noteSummary{ID: nt.ID, Title: nt.Title, URI: noteURI(nt.ID)})
		fmt.Fprintf(&text, "%s: %s\n", nt.ID, nt.Title)
	}
	if len(all) == 0 {
		text.WriteString("There are no notes.\n")
	}
	return textResult(text.String()), out, nil
}

func (n *notes) readNote(_ context.Context, _ *mcp.CallToolRequest, in noteIDInput) (*mcp.CallToolResult, note, error) {
	nt, err := n.store.get(in.ID)
	if err != nil {
		return nil, note{}, fmt.Errorf("read_note: %w", err)
	}
	return textResult(nt.Body), nt, nil
}

func (n *notes) writeNote(ctx context.Context, _ *mcp.CallToolRequest, in writeNoteInput) (*mcp.CallToolResult, writeNoteOutput, error) {
	created, err := n.store.put(note{ID: in.ID, Title: in.Title, Body: in.Body})
	if err != nil {
		return nil, writeNoteOutput{}, fmt.Errorf("write_note: %w", err)
	}
	n.published(ctx, in.ID)
	verb := "Replaced"
	if created {
		verb = "Created"
	}
	out := writeNoteOutput{ID: in.ID, URI: noteURI(in.ID), Created: created}
	return textResult(fmt.Sprintf("%s note %q.", verb, in.ID)), out, nil
}

func (n *notes) deleteNote(ctx context.Context, _ *mcp.CallToolRequest, in noteIDInput) (*mcp.CallToolResult, deleteNoteOutput, error) {
	if err := n.store.remove(in.ID); err != nil {
		return nil, deleteNoteOutput{}, fmt.Errorf("delete_note: %w", err)
	}
	n.published(ctx, in.ID)
	return textResult(fmt.Sprintf("Deleted note %q.", in.ID)), deleteNoteOutput{ID: in.ID}, nil
}

func (n *notes) summarizePrompt(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	nt, err := n.store.get(req.Params.Arguments["id"])
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "summarize_note: " + err.Error()}
	}
	text := fmt.Sprintf("Summarise the note %q (%s) in three bullet points.\n\n%s", nt.ID, nt.Title, nt.Body)
	return &mcp.GetPromptResult{
		Description: "Summarise note " + nt.ID,
		Messages:    []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}},
	}, nil
}

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}
