package policy

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

func ptr[T any](v T) *T { return &v }

// fullInput sets every field, with nested arguments and claims.
func fullInput() *Input {
	in := callInput("alice")
	in.User.Email, in.User.Name = "alice@example.com", "Alice"
	in.User.Claims = map[string]any{"tenant": "t1", "n": 3.5, "nested": map[string]any{"list": []any{"a", true, nil}}}
	in.Token.ClientID = "cli"
	in.Client = &Client{Name: "claude-code", Version: "1.0"}
	in.Server.Labels = map[string]string{"env": "prod"}
	in.Tool.Description = "reads a note"
	in.Tool.Annotations = &Annotations{ReadOnlyHint: ptr(true), DestructiveHint: ptr(false), IdempotentHint: ptr(true), OpenWorldHint: ptr(false), Title: "Read"}
	in.Prompt = &Prompt{Name: "notes__summarise", UpstreamName: "summarise", Server: "notes", Description: "d"}
	in.Resource = &Resource{URI: "notes://n1", URITemplate: "notes://{id}", Name: "n1", Server: "notes", MIMEType: "text/plain"}
	in.Arguments["limit"] = 10.0
	in.Arguments["filter"] = map[string]any{"tags": []any{"x", "y"}}
	in.Request.ProtocolVersion, in.Request.RemoteAddr = "2025-11-25", "127.0.0.1:5555"
	return in
}

func TestASTValueMatchesJSON(t *testing.T) {
	t.Parallel()
	tests := map[string]*Input{
		"zero":    {},
		"call":    callInput("alice"),
		"full":    fullInput(),
		"list":    {Phase: PhaseList, Method: "tools/list", User: User{Sub: "bob", Groups: []string{}}, Tool: &Tool{Name: "hr__lookup"}, Arguments: map[string]any{}},
		"nanosec": {Request: Request{Time: time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))}},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := in.ASTValue()
			if err != nil {
				t.Fatalf("ASTValue: %v", err)
			}
			bs, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ast.ValueFromReader(bytes.NewReader(bs))
			if err != nil {
				t.Fatal(err)
			}
			if got.Compare(want) != 0 {
				t.Errorf("ASTValue differs from the JSON encoding:\n got: %v\nwant: %v", got, want)
			}
		})
	}
}
