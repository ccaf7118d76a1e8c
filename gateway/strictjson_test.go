package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestCheckStrictJSON(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		doc     string
		problem string // "" when accepted
	}{
		"plain":                    {`{"a":1,"b":[1,{"c":"d"}],"e":null}`, ""},
		"same key in two objects":  {`[{"id":1},{"id":2}]`, ""},
		"same key at two levels":   {`{"id":{"id":1}}`, ""},
		"duplicate":                {`{"id":"TOOLONG-123456","id":"ok"}`, `key "id" appears twice`},
		"duplicate nested":         {`{"params":{"arguments":{"x":{"a":1,"a":2}}}}`, `key "a" appears twice`},
		"duplicate in array":       {`{"a":[{"k":1,"k":1}]}`, `key "k" appears twice`},
		"duplicate by escape":      {`{"id":1,"\u0069d":2}`, `key "id" appears twice`},
		"case variant":             {`{"id":"x","ID":"y"}`, `keys "id" and "ID" of one object differ only in case`},
		"kelvin sign":              {`{"k":1,"\u212a":2}`, "differ only in case"},
		"long s":                   {`{"s":1,"\u017f":2}`, "differ only in case"},
		"invalid UTF-8":            {"{\"a\":\"\xff\"}", "not valid UTF-8"},
		"invalid UTF-8 key":        {"{\"\xc3\":1}", "not valid UTF-8"},
		"lone surrogate":           {`{"a":"\ud800"}`, "unpaired surrogate"},
		"escaped replacement char": {`{"a":"\ufffd\n"}`, ""},
		"literal replacement char": {"{\"a\":\"\uFFFD\\n\"}", ""},
		"surrogate pair":           {`{"a":"\ud83d\ude00"}`, ""},
		"syntax error":             {`{"a":1,"b"`, "not a JSON value"},
		"not JSON":                 {`{hello}`, "not a JSON value"},
		"data after the value":     {`{"a":1} {"a":2,"a":3}`, "not a JSON value"},
		"empty body":               {``, "not a JSON value"},
		"empty object, array":      {`{"a":{},"b":[]}`, ""},
		"whitespace":               {" {\n\t\"a\" : [ 1 , 2 ] } ", ""},
		"escaped quote in key":     {`{"a\"":1,"a\"":2}`, `appears twice`},
		"long key kept short":      {`{"` + strings.Repeat("x", 200) + `":1,"` + strings.Repeat("x", 200) + `":2}`, `xxx..."`},
	} {
		err := checkStrictJSON([]byte(tc.doc))
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case tc.problem != "" && (err == nil || !(errors.Is(err, errAmbiguousJSON) || errors.Is(err, errSyntax)) || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.problem)
		}
	}
}

// FuzzCheckStrictJSON compares the scanner with encoding/json's tokenizer:
// a valid document the scanner accepts has no object with a key twice
// (nor twice under case folding) and only valid UTF-8.
func FuzzCheckStrictJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,"x"]},"c":true}`, `{"id":1,"id":2}`, `[{"A":1,"a":2}]`, `{"\u0061":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := checkStrictJSON(doc)
		if err != nil && !errors.Is(err, errAmbiguousJSON) && !errors.Is(err, errSyntax) {
			t.Fatalf("error of another class: %v", err)
		}
		if errors.Is(err, errSyntax) && json.Valid(doc) {
			t.Fatalf("a valid document called a syntax error: %q", doc)
		}
		if err != nil || !json.Valid(doc) {
			return
		}
		if !bytes.Equal(bytes.ToValidUTF8(doc, nil), doc) {
			t.Fatalf("accepted invalid UTF-8: %q", doc)
		}
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		type frame struct {
			object bool
			keys   map[string]bool
			key    bool // the next string token is a key
		}
		var stack []*frame
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("json.Valid but tokenizer failed: %v", err)
			}
			var top *frame
			if len(stack) > 0 {
				top = stack[len(stack)-1]
			}
			if top != nil && top.object && top.key {
				if k, ok := tok.(string); ok {
					folded := strings.ToLower(strings.ToUpper(k))
					if top.keys[folded] {
						t.Fatalf("accepted key %q twice in %q", k, doc)
					}
					top.keys[folded] = true
					top.key = false
					continue
				}
			}
			if top != nil && top.object {
				top.key = true // after a value comes a key
			}
			switch tok {
			case json.Delim('{'):
				stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			case json.Delim('['):
				stack = append(stack, &frame{})
			case json.Delim('}'), json.Delim(']'):
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
		}
	})
}

// A call whose arguments are ambiguous is refused at the edge and never
// reaches the upstream; the same call spelled once goes through.
func TestAmbiguousArgumentsRefused(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		calls []string
	)
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	srv.AddTool(&mcp.Tool{Name: "get", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(_ context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			mu.Lock()
			calls = append(calls, string(r.Params.Arguments))
			mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
		})
	up := startUpstream(t, srv)
	gw := startGateway(t, nil, upstreamConfig("up", up.URL))
	post := func(args string) (int, string) {
		body := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"up__get","arguments":` + args +
			`,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
		req, _ := http.NewRequest(http.MethodPost, gw.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", modern)
		req.Header.Set("Mcp-Method", "tools/call")
		req.Header.Set("Mcp-Name", "up__get")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	for _, args := range []string{`{"id":"TOOLONG-123456","id":"ok"}`, `{"id":"ok","ID":"TOOLONG"}`} {
		status, out := post(args)
		if status != http.StatusBadRequest || !strings.Contains(out, `"code":-32600`) || !strings.Contains(out, `"id":3`) {
			t.Errorf("arguments %s: HTTP %d %s; want 400 with error -32600 for id 3", args, status, out)
		}
	}
	if status, out := post(`{"id":"ok"}`); status != http.StatusOK || !strings.Contains(out, `"ok"`) {
		t.Fatalf("unambiguous call: HTTP %d %s", status, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || calls[0] != `{"id":"ok"}` {
		t.Errorf("upstream received %q, want only the unambiguous call", calls)
	}
}
