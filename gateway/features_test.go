package gateway

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// schemaCases are input schemas of every shape an upstream may send: those
// a *jsonschema.Schema holds exactly, and those it does not.
var schemaCases = map[string]string{
	"rich": `{"type":"object","properties":{"a":{"type":"string","format":"uri","x-custom":{"k":[1,2]}},` +
		`"n":{"type":"integer","minimum":0,"maximum":9007199254740991}},"required":["a"],"additionalProperties":false,` +
		`"$defs":{"d":{"type":"boolean"}}}`,
	"plain":            `{"type":"object"}`,
	"boolean schemas":  `{"type":"object","properties":{"any":true,"none":false}}`,
	"type list inside": `{"type":"object","properties":{"x":{"type":["string","null"]}}}`,
	"draft-4 tuple":    `{"type":"object","properties":{"t":{"type":"array","items":[{"type":"string"},{"type":"number"}]}}}`,
	"odd keyword type": `{"type":"object","required":"a"}`,
	"empty properties": `{"type":"object","properties":{}}`,
	// A Schema drops an empty required list, and encodes a null items as
	// false and an empty additionalProperties as true.
	"empty required":   `{"type":"object","properties":{"a":{"type":"string"}},"required":[]}`,
	"null items":       `{"type":"object","properties":{"l":{"type":"array","items":null}}}`,
	"empty additional": `{"type":"object","additionalProperties":{}}`,
}

// TestToolSchemasListedAsSent: clients of both eras list the schemas the
// upstream sent, as JSON values.
func TestToolSchemasListedAsSent(t *testing.T) {
	t.Parallel()
	up := mcp.NewServer(&mcp.Implementation{Name: "schemas"}, nil)
	for name, schema := range schemaCases {
		var m map[string]any
		if err := json.Unmarshal([]byte(schema), &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Spaces are not in MCP's tool name format: the gateway leaves such names out.
		up.AddTool(&mcp.Tool{Name: strings.ReplaceAll(name, " ", "_"), InputSchema: json.RawMessage(schema), OutputSchema: json.RawMessage(schema)},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{}, nil
			})
	}
	gw := startGateway(t, nil, upstreamConfig("up", startUpstream(t, up).URL))
	for era, version := range eras {
		res, err := connect(t, gw.URL, version, nil).ListTools(ctxTimeout(t), nil)
		if err != nil {
			t.Fatalf("%s: %v", era, err)
		}
		if len(res.Tools) != len(schemaCases) {
			t.Fatalf("%s: %d tools listed, want %d", era, len(res.Tools), len(schemaCases))
		}
		for _, tool := range res.Tools {
			var want any
			_ = json.Unmarshal([]byte(schemaCases[strings.ReplaceAll(tool.Name[len("up__"):], "_", " ")]), &want)
			for kind, got := range map[string]any{"input": tool.InputSchema, "output": tool.OutputSchema} {
				data, _ := json.Marshal(got)
				var value any
				_ = json.Unmarshal(data, &value)
				if !reflect.DeepEqual(value, want) {
					t.Errorf("%s client, %s: %s schema listed as %s", era, tool.Name, kind, data)
				}
			}
		}
	}
}
