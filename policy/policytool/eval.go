package policytool

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/mcpgate/mcpgate/policy"
)

// LoadOptions configure Load. The zero value uses the data beside the
// policies.
type LoadOptions struct {
	// Data are data files, JSON or YAML, whose documents replace the data
	// of the policy directory. If empty, that directory's data is used.
	Data []string
}

// Policy is a policy directory loaded for evaluation: its Rego files
// (tests left out) and its data.
type Policy struct {
	modules map[string]*ast.Module
	data    map[string]any
}

// Load loads the policy of dir (DefaultDir if empty) for Eval. A nil opts
// means the zero LoadOptions.
func Load(dir string, opts *LoadOptions) (*Policy, error) {
	if dir == "" {
		dir = DefaultDir
	}
	loaded, err := loader.NewFileLoader().WithRegoVersion(ast.RegoV1).Filtered([]string{dir}, skipTests)
	if err != nil {
		return nil, &Error{Op: "eval", Err: fmt.Errorf("load %s: %w", dir, err)}
	}
	p := &Policy{modules: loaded.ParsedModules(), data: loaded.Documents}
	if opts != nil && len(opts.Data) > 0 {
		if p.data, err = loadData(opts.Data); err != nil {
			return nil, &Error{Op: "eval", Err: err}
		}
	}
	return p, nil
}

// loadData loads data files (no policies) merged into one document.
func loadData(paths []string) (map[string]any, error) {
	loaded, err := loader.NewFileLoader().WithRegoVersion(ast.RegoV1).All(paths)
	if err != nil {
		return nil, fmt.Errorf("load data: %w", err)
	}
	if len(loaded.Modules) > 0 {
		return nil, errors.New("load data: --data takes JSON or YAML files, not Rego")
	}
	return loaded.Documents, nil
}

// ReadInput reads an input document from a JSON file, numbers kept exact.
func ReadInput(name string) (any, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, &Error{Op: "eval", Err: err}
	}
	var v any
	if err := util.UnmarshalJSON(b, &v); err != nil {
		return nil, &Error{Op: "eval", Err: fmt.Errorf("read %s: %w", name, err)}
	}
	return v, nil
}

// Eval evaluates query for input and returns its value. If query is
// empty, it is the document the gateway evaluates for the input's phase
// (policy.QueryFor): the grant for phase grant, the upstream scopes for
// phase upstream, the decision otherwise.
// It evaluates as the gateway does (policy.EvalOptions): a built-in error
// is an error, not an undefined rule. An undefined query is an error
// wrapping ErrUndefined, since the gateway denies.
func (p *Policy) Eval(ctx context.Context, input any, query string) (any, error) {
	if query == "" {
		doc, _ := input.(map[string]any)
		phase, _ := doc["phase"].(string)
		query = policy.QueryFor(phase)
	}
	rs, err := rego.New(p.regoOptions(input, query)...).Eval(ctx)
	switch {
	case err != nil:
		return nil, &Error{Op: "eval", Err: err}
	case len(rs) == 0:
		return nil, &Error{Op: "eval", Err: fmt.Errorf("%s is %w for this input (the gateway denies)", query, ErrUndefined)}
	}
	return rs[0].Expressions[0].Value, nil
}

func (p *Policy) regoOptions(input any, query string) []func(*rego.Rego) {
	opts := []func(*rego.Rego){
		rego.Query(query),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Store(inmem.NewFromObject(p.data)),
		rego.Input(input),
	}
	opts = append(opts, policy.EvalOptions()...)
	for _, m := range p.modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	return opts
}
