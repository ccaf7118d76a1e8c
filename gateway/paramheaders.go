package gateway

import (
	"golang.org/x/net/http/httpguts"

	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// A tool of the 2026-07-28 revision can ask for some of its arguments also
// as HTTP headers (x-mcp-header in its input schema, SEP-2243), and a
// server of that revision refuses a call whose Mcp-Param-* headers are
// missing or differ from the body. The go-sdk client sends them only for a
// tool it finds in its session's list cache, which is empty while the
// session lists again (a health probe, list_changed): the gateway sends
// them itself, from the definition in its catalog, so that a call never
// depends on that timing.

// paramBinding is an argument (a path of property names) that a tool wants
// also in the header Mcp-Param-<header>.
type paramBinding struct {
	path   []string
	header string
}

// schemaProperty is the part of a JSON Schema that x-mcp-header reads.
type schemaProperty struct {
	Header     json.RawMessage           `json:"x-mcp-header,omitempty"`
	Properties map[string]schemaProperty `json:"properties,omitempty"`
}

// paramBindings returns the bindings of the tool definition raw (its JSON),
// nil when it has none.
func paramBindings(raw []byte) []paramBinding {
	var t struct {
		InputSchema schemaProperty `json:"inputSchema"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil
	}
	return collectBindings(t.InputSchema.Properties, nil, nil)
}

func collectBindings(props map[string]schemaProperty, prefix []string, out []paramBinding) []paramBinding {
	for name, p := range props {
		path := append(append([]string(nil), prefix...), name)
		var header string
		// A name that is not an HTTP token (an upstream's schema may say
		// anything) binds nothing: it would make every call of the tool
		// fail to be sent.
		if json.Unmarshal(p.Header, &header) == nil && header != "" && httpguts.ValidHeaderFieldName("Mcp-Param-"+header) {
			out = append(out, paramBinding{path: path, header: header})
		}
		out = collectBindings(p.Properties, path, out)
	}
	return out
}

// setParamHeaders replaces the Mcp-Param-* headers of h by those that the
// bindings ask for the arguments args (a JSON object). As the SDK does, an
// argument that is absent, null or not a string, boolean or safe integer
// gets no header; a string that is not plain printable ASCII, or has
// leading or trailing blanks, goes Base64-encoded in =?base64?…?=.
func setParamHeaders(h http.Header, bindings []paramBinding, args json.RawMessage) {
	for k := range h {
		if strings.HasPrefix(k, "Mcp-Param-") {
			delete(h, k)
		}
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(args, &obj) != nil {
		return
	}
	for _, b := range bindings {
		if v, ok := headerValue(obj, b.path); ok {
			h.Set("Mcp-Param-"+b.header, v)
		}
	}
}

// headerValue is the header form of the argument at path in obj.
func headerValue(obj map[string]json.RawMessage, path []string) (string, bool) {
	raw, ok := obj[path[0]]
	for _, name := range path[1:] {
		var inner map[string]json.RawMessage
		if !ok || json.Unmarshal(raw, &inner) != nil {
			return "", false
		}
		raw, ok = inner[name]
	}
	if !ok {
		return "", false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case bool:
		s = strconv.FormatBool(v)
	case float64:
		const safe = 1<<53 - 1
		if v != math.Trunc(v) || v > safe || v < -safe {
			return "", false
		}
		return strconv.FormatInt(int64(v), 10), true
	default: // null, objects, arrays
		return "", false
	}
	if needsBase64(s) {
		return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=", true
	}
	return s, true
}

func needsBase64(s string) bool {
	if s == "" {
		return false
	}
	if strings.IndexByte(" \t", s[0]) >= 0 || strings.IndexByte(" \t", s[len(s)-1]) >= 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return true
		}
	}
	// A plain value that looks encoded is encoded, to keep it apart.
	return strings.HasPrefix(s, "=?base64?") && strings.HasSuffix(s, "?=")
}

type paramBindingsKey struct{}

// withParamBindings marks ctx as the context of a call to a tool with
// bindings, for upstreamTransport.
func withParamBindings(ctx context.Context, bindings []paramBinding) context.Context {
	if len(bindings) == 0 {
		return ctx
	}
	return context.WithValue(ctx, paramBindingsKey{}, bindings)
}

// setCallParamHeaders sets the Mcp-Param-* headers of r, a request the SDK
// built for a call in a context marked by withParamBindings, from its body.
// Requests of the 2025 revisions (no Mcp-Method header) get none.
func setCallParamHeaders(r *http.Request) {
	bindings, _ := r.Context().Value(paramBindingsKey{}).([]paramBinding)
	if len(bindings) == 0 || r.Header.Get("Mcp-Method") != "tools/call" || r.GetBody == nil {
		return
	}
	body, err := r.GetBody()
	if err != nil {
		return
	}
	defer body.Close()
	var msg struct {
		Params struct {
			Arguments json.RawMessage `json:"arguments"`
		} `json:"params"`
	}
	if json.NewDecoder(body).Decode(&msg) == nil {
		setParamHeaders(r.Header, bindings, msg.Params.Arguments)
	}
}
