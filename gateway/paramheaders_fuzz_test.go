package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzParamHeaders: whatever an upstream's input schema binds to headers
// (x-mcp-header) and whatever arguments a client sends, the Mcp-Param-*
// headers the gateway sets are valid HTTP header fields: no name or value
// that would let an argument split the request or break it.
func FuzzParamHeaders(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}}`, `{"region":"eu-west-1"}`},
		{`{"inputSchema":{"type":"object","properties":{"r":{"x-mcp-header":"R"}}}}`, `{"r":"a\r\nX-Evil: 1"}`},
		{`{"inputSchema":{"type":"object","properties":{"r":{"x-mcp-header":"Bad Name\r\n"}}}}`, `{"r":"x"}`},
		{`{"inputSchema":{"type":"object","properties":{"a":{"properties":{"b":{"x-mcp-header":"B"}}}}}}`, `{"a":{"b":9007199254740993}}`},
		{`{"inputSchema":{"type":"object","properties":{"r":{"x-mcp-header":"R"}}}}`, `{"r":" lead"}`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, tool, args string) {
		h := http.Header{}
		setParamHeaders(h, paramBindings([]byte(tool)), json.RawMessage(args))
		for name, values := range h {
			if !strings.HasPrefix(name, "Mcp-Param-") || !httpguts.ValidHeaderFieldName(name) {
				t.Fatalf("header name %q", name)
			}
			for _, v := range values {
				if !httpguts.ValidHeaderFieldValue(v) || strings.ContainsAny(v, "\r\n") {
					t.Fatalf("header %s value %q", name, v)
				}
			}
		}
	})
}
