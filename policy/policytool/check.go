package policytool

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// CheckReport is what Check found.
type CheckReport struct {
	// Files is the number of Rego files checked; zero if they could not be
	// loaded.
	Files int
	// Problems are every problem found, each "FILE:LINE: message" or
	// "FILE: message". None means the policies are fine.
	Problems []string
}

// Check parses and compiles the Rego files and data under paths
// (DefaultDir if none) as Rego v1 in strict mode, and checks that every
// file is in opa fmt style. Every problem goes into the report: parse
// errors, or else formatting and compile errors, including data that
// conflicts with a rule.
func Check(ctx context.Context, paths []string) *CheckReport {
	loaded, err := loader.NewFileLoader().WithRegoVersion(ast.RegoV1).WithProcessAnnotation(true).All(pathsOrDefault(paths))
	if err != nil {
		return &CheckReport{Problems: splitErrors(err)}
	}
	r := &CheckReport{Files: len(loaded.Modules)}
	for _, name := range slices.Sorted(maps.Keys(loaded.Modules)) {
		if !formatted(name, loaded.Modules[name].Raw) {
			r.Problems = append(r.Problems, name+": not in opa fmt style (run: mcpgate policy fmt -w "+name+")")
		}
	}
	r.Problems = append(r.Problems, compileProblems(ctx, loaded)...)
	return r
}

// compileProblems compiles the loaded policies in strict mode against
// their data and returns the errors.
func compileProblems(ctx context.Context, loaded *loader.Result) []string {
	store := inmem.NewFromObject(loaded.Documents)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return []string{err.Error()}
	}
	defer store.Abort(ctx, txn)
	c := ast.NewCompiler().WithStrict(true).WithEnablePrintStatements(true).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	var problems []string
	if c.Compile(loaded.ParsedModules()); c.Failed() {
		for _, e := range c.Errors {
			problems = append(problems, e.Error())
		}
	}
	return problems
}

// splitErrors turns a loader error into one problem per line.
func splitErrors(err error) []string {
	errs, ok := errors.AsType[loader.Errors](err)
	if !ok {
		return strings.Split(err.Error(), "\n")
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}
