package policytool_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate/policy/policytool"
)

// evalPolicy allows the users data.allowed lists; data.json beside it
// allows alice, other.json bob. The broken test file shows that tests are
// left out; net/ is refused as a whole, as the gateway refuses it.
var evalPolicy = map[string]string{
	"p/authz.rego": `package mcpgate.authz

decision := {"allow": input.user in data.allowed}

grant := {"scopes": [s | some s in input.grant.requested; s in data.allowed]}

upstream_scopes := {"scopes": [s.name | some s in input.upstream_scopes; s.level == "read"]}

big if input.n == 9007199254740993

strict := {"allow": false} if to_number(input.user) > 0
`,
	"p/authz_test.rego": "package broken_on_purpose\n\ntest_never_loaded if {\n",
	"p/data.json":       `{"allowed": ["alice"]}`,
	"other.json":        `{"allowed": ["bob"]}`,
	"p.rego":            "package x\n",
	"net/n.rego":        "package mcpgate.authz\n\nnetwork if http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"})\n",
}

func TestEval(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, evalPolicy)
	tests := map[string]struct {
		data  []string
		input string
		query string
		want  any
	}{
		"the directory's data":   {nil, `{"user": "alice"}`, "", map[string]any{"allow": true}},
		"denied":                 {nil, `{"user": "bob"}`, "", map[string]any{"allow": false}},
		"other data replaces it": {[]string{dir + "/other.json"}, `{"user": "bob"}`, "", map[string]any{"allow": true}},
		"a query":                {nil, `{"user": "alice"}`, "data.mcpgate.authz.decision.allow", true},
		"numbers kept exact":     {nil, `{"n": 9007199254740993}`, "data.mcpgate.authz.big", true},
		"the grant for a grant":  {nil, `{"phase": "grant", "grant": {"requested": ["alice", "bob"]}}`, "", map[string]any{"scopes": []any{"alice"}}},
		"the upstream scopes for an upstream input": {nil, `{"phase": "upstream", "upstream_scopes": [{"name": "r", "level": "read"}, {"name": "w", "level": "write"}]}`,
			"", map[string]any{"scopes": []any{"r"}}},
		"the decision otherwise": {nil, `{"phase": "register", "user": "alice"}`, "", map[string]any{"allow": true}},
		"a query for a grant":    {nil, `{"phase": "grant", "user": "alice"}`, "data.mcpgate.authz.decision", map[string]any{"allow": true}},
		"a phase not a string":   {nil, `{"phase": 7, "user": "alice"}`, "", map[string]any{"allow": true}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := evalInput(t, dir+"/p", tt.data, tt.input, tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}

// evalInput loads the policy of dir, reads input from a file and
// evaluates query, as mcpgate policy eval does.
func evalInput(t *testing.T, dir string, data []string, input, query string) (any, error) {
	t.Helper()
	p, err := policytool.Load(dir, &policytool.LoadOptions{Data: data})
	if err != nil {
		return nil, err
	}
	in, err := policytool.ReadInput(writeFiles(t, map[string]string{"in.json": input}) + "/in.json")
	if err != nil {
		t.Fatal(err)
	}
	return p.Eval(t.Context(), in, query)
}

// TestEvalAsTheGateway checks the answers that deny in the gateway: they
// are errors, never a value of a rule that went undefined.
func TestEvalAsTheGateway(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, evalPolicy)
	tests := map[string]struct {
		dir, input, query string
		want              string
	}{
		"undefined":         {"p", `{}`, "data.mcpgate.authz.nothing", "policytool: eval: data.mcpgate.authz.nothing is undefined for this input (the gateway denies)"},
		"built-in error":    {"p", `{"user": "alice"}`, "data.mcpgate.authz.strict", "to_number"},
		"no network access": {"net", `{}`, "data.mcpgate.authz.network", "unsafe built-in function calls in expression: http.send"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := evalInput(t, dir+"/"+tt.dir, nil, tt.input, tt.query)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Eval = %v, %v; want an error containing %q", got, err, tt.want)
			}
			if undefined := errors.Is(err, policytool.ErrUndefined); undefined != (name == "undefined") {
				t.Errorf("errors.Is(%v, ErrUndefined) = %v", err, undefined)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, evalPolicy)
	tests := map[string]struct {
		dir  string
		data []string
		want string
	}{
		"missing dir": {"does-not-exist", nil, "policytool: eval: load does-not-exist: "},
		"default dir": {"", nil, "policytool: eval: load rego: "},
		"rego data":   {dir + "/p", []string{dir + "/p.rego"}, "policytool: eval: load data: --data takes JSON or YAML files, not Rego"},
		"no data":     {dir + "/p", []string{dir + "/none.json"}, "policytool: eval: load data: "},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := policytool.Load(tt.dir, &policytool.LoadOptions{Data: tt.data})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Load = %v, %v; want an error starting %q", p, err, tt.want)
			}
		})
	}
}

func TestReadInput(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"in.json": `{"n": 1.50}`, "bad.json": `{"user": `})
	got, err := policytool.ReadInput(dir + "/in.json")
	if diff := cmp.Diff(map[string]any{"n": json.Number("1.50")}, got); err != nil || diff != "" {
		t.Errorf("ReadInput = %v (-want +got):\n%s", err, diff)
	}
	for _, name := range []string{"bad.json", "none.json"} {
		if _, err := policytool.ReadInput(dir + "/" + name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("ReadInput(%s) = %v, want an error naming the file", name, err)
		}
	}
}
