package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withScopes is the minimal configuration (server notes) with a scope
// catalogue whose lines follow.
func withScopes(lines string) string { return minimal + "scopes:\n" + lines }

func TestScopeCatalogue(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, withScopes(`  - name: "notes:read"
    description: Read your notes
    server: notes
    level: read
  - {name: "notes:write", server: notes, level: write}
  - {name: mcp, server: "*"}
`))
	want := []Scope{
		{Name: "notes:read", Description: "Read your notes", Server: "notes", Level: ScopeLevelRead},
		{Name: "notes:write", Server: "notes", Level: ScopeLevelWrite},
		{Name: "mcp", Server: ScopeServerAll},
	}
	if diff := cmp.Diff(want, cfg.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if got := cfg.Scopes[2].EffectiveLevel(); got != ScopeLevelAll {
		t.Errorf("EffectiveLevel of a scope without level = %q, want all", got)
	}
	if got := cfg.Scopes[0].EffectiveLevel(); got != ScopeLevelRead {
		t.Errorf("EffectiveLevel = %q, want read", got)
	}
}

func TestScopeValidation(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		yaml, path, msg string
	}{
		"name missing":     {withScopes("  - {server: notes}\n"), "scopes[0].name", "is required"},
		"name with space":  {withScopes("  - {name: 'notes read', server: notes}\n"), "scopes[0].name", `"notes read" is not a valid scope: use printable ASCII characters other than space`},
		"name with quote":  {withScopes("  - {name: 'a\"b', server: notes}\n"), "scopes[0].name", "is not a valid scope"},
		"name backslash":   {withScopes("  - {name: 'a\\b', server: notes}\n"), "scopes[0].name", "is not a valid scope"},
		"name not ASCII":   {withScopes("  - {name: 'notes:lire\u00e9', server: notes}\n"), "scopes[0].name", "is not a valid scope"},
		"name openid":      {withScopes("  - {name: openid, server: notes}\n"), "scopes[0].name", `"openid" is reserved: the authorization server manages openid and offline_access itself`},
		"offline_access":   {withScopes("  - {name: offline_access, server: '*'}\n"), "scopes[0].name", "is reserved"},
		"duplicate name":   {withScopes("  - {name: a, server: notes}\n  - {name: b, server: notes}\n  - {name: a, server: '*'}\n"), "scopes[2].name", `"a" is already used by scopes[0]: scope names must be unique`},
		"server missing":   {withScopes("  - {name: a}\n"), "scopes[0].server", `is required: the name of a configured server, or "*" for every server`},
		"server unknown":   {withScopes("  - {name: a, server: nots}\n"), "scopes[0].server", `no server named "nots": use the name of one of servers[] or "*": did you mean "notes"?`},
		"server far off":   {withScopes("  - {name: a, server: payroll}\n"), "scopes[0].server", `no server named "payroll": use the name of one of servers[] or "*"`},
		"server pattern":   {withScopes("  - {name: a, server: 'no*'}\n"), "scopes[0].server", `no server named "no*"`},
		"bad level":        {withScopes("  - {name: a, server: notes, level: admin}\n"), "scopes[0].level", `"admin" is not a level: use read, write or all`},
		"level none":       {withScopes("  - {name: a, server: notes, level: none}\n"), "scopes[0].level", `"none" is not a level`},
		"description ctrl": {withScopes("  - {name: a, server: notes, description: \"a\\nb\"}\n"), "scopes[0].description", "must not contain control characters"},
		"unknown key":      {withScopes("  - {name: a, server: notes, levels: read}\n"), "scopes[0].levels", `unknown key (known keys: name, description, server, level): did you mean "level"?`},
		"not a list":       {"scopes: {name: a}\n" + minimal, "scopes", "must be a list, got a mapping"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, problemsOf(t, tc.yaml), tc.path, tc.msg)
		})
	}
}

// Every problem of the catalogue at once, with its key path.
func TestScopeProblemsAllReported(t *testing.T) {
	t.Parallel()
	ps := problemsOf(t, withScopes("  - {name: '', server: x}\n  - {name: openid, server: notes, level: reed}\n"))
	var got []string
	for _, p := range ps {
		got = append(got, p.Path)
	}
	want := []string{"scopes[0].name", "scopes[0].server", "scopes[1].name", "scopes[1].level"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problem paths (-want +got):\n%s\n%v", diff, ps)
	}
}

func TestIsScopeToken(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"notes:read": true, "a": true, "!#[]~": true, "https://x.example/s": true,
		"": false, "a b": false, `a"b`: false, `a\b`: false, "a\tb": false, "a\x7f": false, "é": false,
	} {
		if got := isScopeToken(s); got != want {
			t.Errorf("isScopeToken(%q) = %v, want %v", s, got, want)
		}
	}
}
