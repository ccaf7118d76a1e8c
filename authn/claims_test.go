package authn

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClaimMappings(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mapping ClaimMapping
		claims  string
		want    Identity
	}{
		"okta-like: groups array, scp array, cid": {
			mapping: ClaimMapping{ClientID: "cid"},
			claims:  `{"sub":"00u1","email":"alice@corp.example","name":"Alice","groups":["Everyone","engineering"],"scp":["mcp:tools","notes:read"],"cid":"0oa9"}`,
			want: Identity{Subject: "00u1", Email: "alice@corp.example", Name: "Alice",
				Groups: []string{"Everyone", "engineering"}, Scopes: []string{"mcp:tools", "notes:read"}, ClientID: "0oa9"},
		},
		"entra-like: roles, scp string, azp, oid subject": {
			mapping: ClaimMapping{Subject: "oid", Groups: "roles", Email: "preferred_username"},
			claims:  `{"sub":"pairwise","oid":"7f1c","preferred_username":"bob@corp.example","roles":["HR.Read"],"scp":"mcp.tools notes.read","azp":"app-1"}`,
			want: Identity{Subject: "7f1c", Email: "bob@corp.example",
				Groups: []string{"HR.Read"}, Scopes: []string{"mcp.tools", "notes.read"}, ClientID: "app-1"},
		},
		"keycloak-like: realm_access.roles": {
			mapping: ClaimMapping{Groups: "realm_access.roles"},
			claims:  `{"sub":"kc-1","realm_access":{"roles":["admin","offline_access"]},"scope":"openid mcp","azp":"mcp-client"}`,
			want: Identity{Subject: "kc-1", Groups: []string{"admin", "offline_access"},
				Scopes: []string{"openid", "mcp"}, ClientID: "mcp-client"},
		},
		"dotted claim name taken literally": {
			mapping: ClaimMapping{Groups: "https://corp.example/groups"},
			claims:  `{"sub":"a","https://corp.example/groups":["eng"]}`,
			want:    Identity{Subject: "a", Groups: []string{"eng"}},
		},
		"groups as one string": {
			claims: `{"sub":"a","groups":"engineering"}`,
			want:   Identity{Subject: "a", Groups: []string{"engineering"}},
		},
		"groups as number":       {claims: `{"sub":"a","groups":42}`, want: Identity{Subject: "a"}},
		"groups as object":       {claims: `{"sub":"a","groups":{"x":1}}`, want: Identity{Subject: "a"}},
		"groups with non-string": {claims: `{"sub":"a","groups":["eng",7]}`, want: Identity{Subject: "a"}},
		"groups null":            {claims: `{"sub":"a","groups":null}`, want: Identity{Subject: "a"}},
		"nested path through a non-object": {
			mapping: ClaimMapping{Groups: "realm_access.roles"},
			claims:  `{"sub":"a","realm_access":"x"}`,
			want:    Identity{Subject: "a"},
		},
		"client_id when no azp": {
			claims: `{"sub":"a","client_id":"c-2"}`,
			want:   Identity{Subject: "a", ClientID: "c-2"},
		},
		"scope wins over scp": {
			claims: `{"sub":"a","scope":"x y","scp":["z"]}`,
			want:   Identity{Subject: "a", Scopes: []string{"x", "y"}},
		},
		"subject not a string": {claims: `{"sub":12}`, want: Identity{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			paths, errs := compileClaims(tc.mapping)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var claims map[string]any
			if err := json.Unmarshal([]byte(tc.claims), &claims); err != nil {
				t.Fatal(err)
			}
			got := paths.identity(claims)
			if diff := cmp.Diff(&tc.want, got, cmp.FilterPath(isClaimsField, cmp.Ignore())); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClaimMappingEndToEnd maps Keycloak roles from a verified token.
func TestClaimMappingEndToEnd(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Issuers[0].Claims = ClaimMapping{Groups: "realm_access.roles"} })
	tok := e.token("alice", map[string]any{"realm_access": map[string]any{"roles": []string{"engineering"}}})
	id, err := e.v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"engineering"}, id.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if got, _ := FromContext(NewContext(t.Context(), id)); got != id {
		t.Errorf("FromContext(NewContext(id)) = %p, want %p", got, id)
	}
	if _, ok := FromContext(t.Context()); ok {
		t.Error("FromContext of an empty context reports an identity")
	}
}
