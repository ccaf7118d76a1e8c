package demo

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestNotesConcurrentWrites runs writers and deleters of both eras against
// one store, then checks that the resources list matches the notes list.
func TestNotesConcurrentWrites(t *testing.T) {
	t.Parallel()
	s := startServer(t, "notes", NewNotes())
	var wg sync.WaitGroup
	for i := range 8 {
		era := "2025-11-25"
		if i%2 == 1 {
			era = "2026-07-28"
		}
		cs := connect(t, newClient(nil), s.URL, era)
		wg.Go(func() {
			for j := range 10 {
				call := func(tool string, args map[string]any) {
					if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args}); err != nil {
						t.Errorf("%s: %v", tool, err)
					}
				}
				call("write_note", map[string]any{"id": fmt.Sprintf("c%d-%d", i, j), "body": "x"})
				call("write_note", map[string]any{"id": fmt.Sprintf("shared-%d", j%3), "body": era})
				call("delete_note", map[string]any{"id": fmt.Sprintf("shared-%d", (j+1)%3)}) // may be absent
				call("list_notes", nil)
			}
		})
	}
	wg.Wait()
	cs := connect(t, newClient(nil), s.URL, "2026-07-28")
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "list_notes"})
	if err != nil {
		t.Fatal(err)
	}
	var out listNotesOutput
	remarshal(t, res.StructuredContent, &out)
	var ids []string
	for _, n := range out.Notes {
		ids = append(ids, noteURI(n.ID))
	}
	for i := range 8 {
		for j := range 10 {
			if !slices.Contains(ids, noteURI(fmt.Sprintf("c%d-%d", i, j))) {
				t.Errorf("note c%d-%d missing", i, j)
			}
		}
	}
	var resources []*mcp.Resource
	for r, err := range cs.Resources(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		resources = append(resources, r)
	}
	slices.Sort(ids)
	if diff := cmp.Diff(ids, resourceURIs(resources)); diff != "" {
		t.Errorf("resources differ from notes (-notes +resources):\n%s", diff)
	}
}
