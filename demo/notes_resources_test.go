package demo

import (
	"context"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestNotesResourceListChanged checks that writing a new note adds its
// resource and deleting it removes it, each announced by list_changed.
func TestNotesResourceListChanged(t *testing.T) {
	t.Parallel()
	for era := range eras() {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "notes", NewNotes())
			changed := make(chan struct{}, 16)
			c := newClient(&mcp.ClientOptions{
				ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { changed <- struct{}{} },
			})
			acks := watchAcks(c)
			cs := connect(t, c, s.URL, era)
			if era >= statelessSince {
				if ack := await(t, acks, "listen acknowledgement"); !ack.ResourcesListChanged {
					t.Fatalf("listen acknowledged %+v, want resourcesListChanged", ack)
				}
			}
			const uri = "notes://note/fresh"

			callTool(t, cs, "write_note", map[string]any{"id": "fresh", "title": "Fresh", "body": "fresh body"})
			await(t, changed, "list_changed after write")
			if uris := listURIs(t, cs); !slices.Contains(uris, uri) {
				t.Errorf("resources after write = %q, want %s", uris, uri)
			}
			read, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: uri})
			if err != nil {
				t.Fatalf("ReadResource: %v", err)
			}
			if got := read.Contents[0]; got.Text != "fresh body" || got.MIMEType != "text/plain" {
				t.Errorf("read %s = %q (%s), want %q (text/plain)", uri, got.Text, got.MIMEType, "fresh body")
			}

			callTool(t, cs, "delete_note", map[string]any{"id": "fresh"})
			await(t, changed, "list_changed after delete")
			if uris := listURIs(t, cs); slices.Contains(uris, uri) {
				t.Errorf("resources after delete = %q, still holding %s", uris, uri)
			}
			if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: uri}); err == nil {
				t.Errorf("ReadResource(%s) after delete succeeded", uri)
			}
		})
	}
}

func TestNotesReadResource(t *testing.T) {
	t.Parallel()
	s := startServer(t, "notes", NewNotes())
	tests := map[string]struct {
		uri      string
		wantErr  bool
		wantText string
	}{
		"seeded":         {uri: "notes://note/release-checklist", wantText: seedNotes()[2].Body},
		"template miss":  {uri: "notes://note/absent", wantErr: true},
		"bad id":         {uri: "notes://note/UPPER", wantErr: true},
		"foreign scheme": {uri: "file:///etc/passwd", wantErr: true},
	}
	for era := range eras() {
		for name, tt := range tests {
			t.Run(era+"/"+name, func(t *testing.T) {
				t.Parallel()
				cs := connect(t, newClient(nil), s.URL, era)
				res, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: tt.uri})
				if (err != nil) != tt.wantErr {
					t.Fatalf("ReadResource(%s) error = %v, want error %t", tt.uri, err, tt.wantErr)
				}
				if err == nil && res.Contents[0].Text != tt.wantText {
					t.Errorf("ReadResource(%s) = %q, want %q", tt.uri, res.Contents[0].Text, tt.wantText)
				}
			})
		}
	}
}

// TestNotesSubscribe checks that a subscriber to one note hears about writes
// to that note and not to others.
func TestNotesSubscribe(t *testing.T) {
	t.Parallel()
	for era := range eras() {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "notes", NewNotes())
			updated := make(chan string, 16)
			c := newClient(&mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
					updated <- req.Params.URI
				},
			})
			acks := watchAcks(c)
			cs := connect(t, c, s.URL, era)
			const uri = "notes://note/welcome"
			if err := cs.Subscribe(t.Context(), &mcp.SubscribeParams{URI: uri}); err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			if era >= statelessSince {
				ack := await(t, acks, "subscription acknowledgement")
				if !slices.Equal(ack.ResourceSubscriptions, []string{uri}) {
					t.Fatalf("listen acknowledged %+v, want %s", ack, uri)
				}
			}
			// A write to another note first: the first update must still be ours.
			callTool(t, cs, "write_note", map[string]any{"id": "runbook", "body": "changed"})
			callTool(t, cs, "write_note", map[string]any{"id": "welcome", "body": "changed"})
			if got := await(t, updated, "resources/updated"); got != uri {
				t.Errorf("updated %q, want %q", got, uri)
			}
		})
	}
}

func TestNotesSubscribeRefusesForeignURI(t *testing.T) {
	t.Parallel()
	s := startServer(t, "notes", NewNotes())
	// Legacy only: on 2026-07-28 sessions the SDK's Subscribe does not wait
	// for the server's answer.
	cs := connect(t, newClient(nil), s.URL, "2025-11-25")
	if err := cs.Subscribe(t.Context(), &mcp.SubscribeParams{URI: "file:///etc/passwd"}); err == nil {
		t.Error("Subscribe(file:///etc/passwd) succeeded")
	}
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s: tool error %q", name, firstText(t, res))
	}
	return res
}

func listURIs(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListResources(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resourceURIs(res.Resources)
}
