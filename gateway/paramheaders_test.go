package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestParamHeadersWithoutListCache: a call to a tool with x-mcp-header
// parameters reaches a 2026-07-28 upstream with Mcp-Param-* headers that
// the upstream (a go-sdk server, which checks them against the body)
// accepts, for every kind of value, even while the SDK client's list cache
// of the upstream session is empty (as it is during a health probe's
// list: the SDK then sends no headers, and the upstream refused the call).
func TestParamHeadersWithoutListCache(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "hdr"}, nil)
	srv.AddTool(&mcp.Tool{Name: "regional", InputSchema: json.RawMessage(`{"type":"object","properties":{
		"region":{"type":"string","x-mcp-header":"Region"},
		"n":{"type":"integer","x-mcp-header":"N"},
		"dry":{"type":"boolean","x-mcp-header":"Dry"},
		"where":{"type":"object","properties":{"zone":{"type":"string","x-mcp-header":"Zone"}}}}}`)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
		})
	up := startUpstream(t, srv)
	gw := startGateway(t, nil, upstreamConfig("hdr", up.URL))
	// Empty the list cache of the gateway's upstream session: a list whose
	// context has ended drops the cached page before it fails.
	u := gw.ups[0]
	u.mu.Lock()
	ucs := u.cs
	u.mu.Unlock()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ucs.ListTools(ended, nil); err == nil {
		t.Fatal("a list with an ended context succeeded")
	}
	for name, version := range eras {
		cs := connect(t, gw.URL, version, nil)
		toolNames(t, cs) // a 2026-07-28 client sends Mcp-Param-* for tools it listed
		for _, args := range []map[string]any{
			{"region": "eu", "n": 42, "dry": true, "where": map[string]any{"zone": "a"}},
			{"region": " région\n", "n": -7, "dry": false},
			{"region": "=?base64?ZXU=?=", "where": map[string]any{"zone": nil}},
			{"region": nil, "dry": nil},
			{},
		} {
			before := len(up.seenHeaders())
			res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "hdr__regional", Arguments: args})
			if err != nil {
				t.Fatalf("%s client, arguments %v: %v", name, args, err)
			}
			if res.IsError {
				t.Fatalf("%s client, arguments %v: %s", name, args, textOf(t, res))
			}
			if _, ok := args["region"].(string); ok && !sentParam(up.seenHeaders()[before:], "Mcp-Param-Region") {
				t.Errorf("%s client, arguments %v: no Mcp-Param-Region header reached the upstream", name, args)
			}
		}
	}
}

func sentParam(hs []http.Header, key string) bool {
	for _, h := range hs {
		if h.Get("Mcp-Method") == "tools/call" && h.Get(key) != "" {
			return true
		}
	}
	return false
}
