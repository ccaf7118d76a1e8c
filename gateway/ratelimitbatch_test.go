package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/config"
)

// A 2025-03-26 batch refused by a rate limit is answered as a batch is
// (JSON-RPC 2.0 §6): an array with one error for each of its requests, by
// id, none for its notification; HTTP 429 with Retry-After, since the
// batch is refused whole (no request of it reaches an upstream, a request
// under no limit included). Both when only its last request is over the
// limit and when all are.
func TestRateLimitBatchAnsweredAsBatch(t *testing.T) {
	gw, one, _, _ := rateGateway(t, []config.RateLimit{{Per: config.RatePerUserTool, RequestsPerMinute: 1, Burst: 2}})
	cs := connectAs(t, gw, legacy, alice)
	h := map[string]string{"Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": "2025-03-26", "X-Test-User": "alice", "Authorization": "Bearer employee-token-alice"}
	call := func(id string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"one__a","arguments":{}}}`
	}
	note := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":1}}`
	for _, tc := range []struct {
		name  string
		batch []string
		ids   []string
	}{
		// one__a's 2 tokens: the first two calls fit, the third is over.
		{"last over the limit", []string{call("1"), note, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`, call(`"two"`), call("3")},
			[]string{"1", `"list"`, `"two"`, "3"}},
		// Still 2 tokens left (the refused batch gave its back): spend
		// them, then a batch of which every request is over.
		{"all over the limit", []string{call("7"), call(`"eight"`)}, []string{"7", `"eight"`}},
	} {
		if tc.name == "all over the limit" {
			for range 2 {
				if msg := callErr(t, cs, "one__a"); msg != "" {
					t.Fatalf("a call within the limit: %q", msg)
				}
			}
		}
		before := one.Load()
		status, header, body := postMCPHeader(t, gw.URL, "["+strings.Join(tc.batch, ",")+"]", h)
		if status != http.StatusTooManyRequests || header.Get("Retry-After") == "" {
			t.Errorf("%s: HTTP %d, Retry-After %q; want 429 with Retry-After", tc.name, status, header.Get("Retry-After"))
		}
		var answers []struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &answers); err != nil {
			t.Fatalf("%s: the answer to a batch is not an array: %v\n%s", tc.name, err, body)
		}
		var ids []string
		for _, a := range answers {
			ids = append(ids, string(a.ID))
			if a.JSONRPC != "2.0" || a.Error == nil || a.Error.Code != -32000 || !strings.Contains(a.Error.Message, "limits.rate") {
				t.Errorf("%s: answer to %s: %s", tc.name, a.ID, body)
			}
		}
		if strings.Join(ids, " ") != strings.Join(tc.ids, " ") {
			t.Errorf("%s: answers to ids %v, want one to each request: %v", tc.name, ids, tc.ids)
		}
		if n := one.Load() - before; n != 0 {
			t.Errorf("%s: %d calls of a refused batch reached the upstream", tc.name, n)
		}
	}
}
