package demo

import (
	"context"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	// noteURIPrefix begins every note resource URI: notes://note/{id}.
	noteURIPrefix = "notes://note/"
	noteMIMEType  = "text/plain"
)

func noteURI(id string) string { return noteURIPrefix + id }

// noteIDFromURI returns the id in a well-formed note URI.
func noteIDFromURI(uri string) (string, bool) {
	id, ok := strings.CutPrefix(uri, noteURIPrefix)
	if !ok || checkNoteID(id) != nil {
		return "", false
	}
	return id, true
}

// addResources registers one resource per stored note and the template that
// covers every note URI, and keeps the resources in step with the store.
func (n *notes) addResources() {
	n.server.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: noteURIPrefix + "{id}",
		Name:        "note",
		Title:       "Note",
		Description: "The body of the note with the given id.",
		MIMEType:    noteMIMEType,
	}, n.readResource)
	for _, nt := range n.store.list() {
		n.server.AddResource(noteResource(nt), n.readResource)
	}
	n.store.onChange = n.syncResource
}

// syncResource runs under the store lock, so registrations happen in the
// order of the writes. Adding a resource with an existing URI replaces it;
// both adding and removing send resources/list_changed.
func (n *notes) syncResource(nt note, deleted bool) {
	if deleted {
		n.server.RemoveResources(noteURI(nt.ID))
		return
	}
	n.server.AddResource(noteResource(nt), n.readResource)
}

// published tells the sessions subscribed to the note's URI that it changed.
// It runs after the store lock is released, as it may wait on the network.
func (n *notes) published(ctx context.Context, id string) {
	_ = n.server.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: noteURI(id)})
}

func (n *notes) readResource(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	id, ok := noteIDFromURI(uri)
	if !ok {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	nt, err := n.store.get(id)
	if err != nil {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	return &mcp.ReadResourceResult{
		Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: noteMIMEType, Text: nt.Body}},
	}, nil
}

func noteResource(nt note) *mcp.Resource {
	return &mcp.Resource{
		URI:      noteURI(nt.ID),
		Name:     nt.ID,
		Title:    nt.Title,
		MIMEType: noteMIMEType,
		Size:     int64(len(nt.Body)),
	}
}

// subscribeNote accepts subscriptions to any well-formed note URI, including
// notes not written yet, so that a client can watch for a note's creation.
func subscribeNote(_ context.Context, req *mcp.SubscribeRequest) error {
	if _, ok := noteIDFromURI(req.Params.URI); !ok {
		return mcp.ResourceNotFoundError(req.Params.URI)
	}
	return nil
}
