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

// withCatalogue adds the catalogue entries of a call's server.
func withCatalogue(in *Input) *Input {
	in.Catalogue = []Scope{{Name: "notes:read", Description: "Read notes", Server: "notes", Level: "read"}, {Name: "mcp", Server: "*", Level: "all"}}
	return in
}

// grantInput is a grant-phase input: no token, the OAuth client.
func grantInput() *Input {
	return &Input{Phase: PhaseGrant, Method: MethodAuthorize,
		User:      User{Sub: "alice", Iss: "https://idp.test", Groups: []string{"engineering"}},
		Client:    &Client{ID: "c-123", Name: "Claude"},
		Catalogue: []Scope{{Name: "notes:write", Server: "notes", Level: "write"}},
		Grant:     &Grant{Requested: []string{"notes:write", "hr"}, Current: []string{}, Reason: GrantStepUp},
		Request:   Request{RemoteAddr: "192.0.2.1", Time: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
	}
}

// registerInput is a register-phase input: nobody is signed in.
func registerInput() *Input {
	return &Input{Phase: PhaseRegister, Method: MethodRegister,
		Client: &Client{ID: "https://app.example/client.json", Name: "App"},
		Registration: &Registration{Method: RegistrationMetadataDocument, ClientID: "https://app.example/client.json",
			ClientName: "App", ClientURI: "https://app.example", RedirectURIs: []string{"http://127.0.0.1:3000/cb"},
			RedirectHosts: []string{"127.0.0.1"}, GrantTypes: []string{"authorization_code", "refresh_token"},
			TokenEndpointAuthMethod: "none", Scope: "notes:read", SoftwareID: "app", SoftwareVersion: "1.2"},
		Request: Request{Time: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
	}
}

func TestASTValueMatchesJSON(t *testing.T) {
	t.Parallel()
	tests := map[string]*Input{
		"zero":                              {},
		"call":                              callInput("alice"),
		"full":                              fullInput(),
		"full with a catalogue":             withCatalogue(fullInput()),
		"list":                              {Phase: PhaseList, Method: "tools/list", User: User{Sub: "bob", Groups: []string{}}, Tool: &Tool{Name: "hr__lookup"}, Arguments: map[string]any{}},
		"nanosec":                           {Request: Request{Time: time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))}},
		"grant":                             grantInput(),
		"register":                          registerInput(),
		"dynamic registration, nothing set": {Phase: PhaseRegister, Registration: &Registration{Method: RegistrationDynamic}},
		"grant with nil lists":              {Phase: PhaseGrant, Grant: &Grant{}, Catalogue: []Scope{{}}},
		"empty but not zero user":           {User: User{Groups: []string{}}},
		"user with claims only":             {User: User{Claims: map[string]any{}}},
		"token with client only":            {Token: Token{ClientID: "c"}},
		"empty catalogue":                   {Catalogue: []Scope{}},
		"upstream":                          upstreamInput(),
		"upstream connect, nothing set":     {Phase: PhaseUpstream, Method: MethodUpstreamConnect, Server: &Server{}, UpstreamScopes: []UpstreamScope{{}}},
		"empty upstream scopes":             {UpstreamScopes: []UpstreamScope{}},
		"user with a memo":                  withMemo(fullInput()),
		"console revoke": {Phase: PhaseConsole, Method: MethodConsoleRevoke, User: User{Sub: "carol", Groups: []string{"admin"}},
			Server: &Server{Name: "calendar", Labels: map[string]string{}}, Employee: &Employee{Sub: "alice"}},
		"employee without a subject": {Employee: &Employee{}},
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

func withMemo(in *Input) *Input {
	in.User.Memo = &UserMemo{}
	return in
}

// TestUserMemo: inputs whose users share a memo share one conversion of
// the user, which is what converting each would give.
func TestUserMemo(t *testing.T) {
	t.Parallel()
	memo := &UserMemo{}
	a, b := fullInput(), fullInput()
	a.User.Memo, b.User.Memo = memo, memo
	b.Phase = PhaseList
	va, err := a.ASTValue()
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.ASTValue()
	if err != nil {
		t.Fatal(err)
	}
	ua, ub := va.(ast.Object).Get(ast.StringTerm("user")), vb.(ast.Object).Get(ast.StringTerm("user"))
	if ua.Value != ub.Value {
		t.Error("the user was converted twice")
	}
	plain, err := fullInput().ASTValue()
	if err != nil {
		t.Fatal(err)
	}
	if want := plain.(ast.Object).Get(ast.StringTerm("user")); ua.Value.Compare(want.Value) != 0 {
		t.Errorf("memoized user %v, want %v", ua, want)
	}
}
