package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/policy/policytool"
	"github.com/mcpgate/mcpgate/rego"
)

// policyCommands is the mcpgate policy group: OPA's tooling in process
// (policy/policytool), so the security team needs no opa binary.
func policyCommands() group {
	return group{
		prog:  "mcpgate policy",
		about: "mcpgate policy tests, evaluates and checks Rego policies (Rego v1) without an opa binary.",
		cmds: []command{
			{"test", "run the _test.rego tests of a policy directory", runPolicyTest},
			{"eval", "evaluate the decision for an input document", runPolicyEval},
			{"check", "compile policies in strict mode and check their formatting", runPolicyCheck},
			{"fmt", "list, or rewrite with -w, policy files not in opa fmt style", runPolicyFmt},
		},
	}
}

func runPolicy(ctx context.Context, args []string, e *env) int {
	return dispatch(ctx, policyCommands(), args, e)
}

// policyFailed prints err of the policy command name and returns exitFail.
// The command's prefix names the tool, so a policytool.Error is printed by
// its cause alone.
func policyFailed(w io.Writer, name string, err error) int {
	if te, ok := errors.AsType[*policytool.Error](err); ok {
		err = te.Err
	}
	fmt.Fprintf(w, "mcpgate policy %s: %v\n", name, err)
	return exitFail
}

func runPolicyTest(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("policy test", "[-v] [--coverage] [--threshold N] [--run REGEX] [--timeout D] [--library builtin] [PATH...]",
		"Run the tests (rules named test_*) of the Rego files and data under PATH (default rego/), as opa test\n"+
			"does. With --library builtin they are compiled with the policy library mcpgate embeds, as the gateway\n"+
			"does with policy.library: builtin, so a directory of your data and tests runs against it.\n"+
			"Exits 1 if a test fails or errors, if there are no tests, or if coverage is below --threshold.", e)
	fs.positional = true
	opts := policytool.TestOptions{Output: e.stdout}
	fs.BoolVar(&opts.Verbose, "v", false, "print every test, and the trace of failures")
	fs.BoolVar(&opts.Coverage, "coverage", false, "print the coverage of each policy file and in total")
	fs.Float64Var(&opts.Threshold, "threshold", 0, "fail if total coverage is below this percentage (implies --coverage)")
	fs.StringVar(&opts.Run, "run", "", "run only the tests whose names match this regular expression")
	fs.DurationVar(&opts.Timeout, "timeout", policytool.DefaultTestTimeout, "time limit of each test")
	library := fs.String("library", config.PolicyLibraryNone, "builtin: compile with the embedded policy library; none: only PATH")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if opts.Threshold < 0 || opts.Threshold > 100 {
		code, _ := fs.usageError("--threshold must be between 0 and 100")
		return code
	}
	switch *library {
	case config.PolicyLibraryNone:
	case config.PolicyLibraryBuiltin:
		modules, err := rego.Modules()
		if err != nil {
			return policyFailed(e.stderr, "test", err)
		}
		opts.Library = modules
	default:
		code, _ := fs.usageError("--library must be builtin or none")
		return code
	}
	if _, err := policytool.Test(ctx, fs.Args(), &opts); err != nil {
		return policyFailed(e.stderr, "test", err)
	}
	return exitOK
}

// dataFiles is a repeatable --data flag.
type dataFiles []string

func (d *dataFiles) String() string     { return strings.Join(*d, ",") }
func (d *dataFiles) Set(v string) error { *d = append(*d, v); return nil }

func runPolicyEval(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("policy eval", "--input FILE [--policy DIR] [--data FILE...] [--query REF]",
		"Evaluate the decision (the grant for an input of phase grant, the upstream scopes for one of\n"+
			"phase upstream) for the input document in FILE\n"+
			"and print it as JSON. The policy is the Rego files of DIR (tests left out) with the JSON/YAML\n"+
			"data beside them; --data files, if given, replace that data. Exits 0 when the policy evaluated,\n"+
			"whether it allows or denies (read \"allow\"), and 1 when it could not: a load or compile error,\n"+
			"an evaluation error or an undefined decision, all of which the gateway treats as deny.", e)
	policyDir := fs.String("policy", policytool.DefaultDir, "the policy directory")
	inputFile := fs.String("input", "", "the input document, JSON (required)")
	query := fs.String("query", "", "the document to evaluate (default: "+policy.DefaultGrantQuery+
		" for an input of phase grant, "+policy.DefaultUpstreamScopesQuery+" for one of phase upstream, "+
		policy.DefaultQuery+" otherwise)")
	var data dataFiles
	fs.Var(&data, "data", "a data file, JSON or YAML, replacing the policy directory's data (repeatable)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *inputFile == "" {
		code, _ := fs.usageError("--input is required")
		return code
	}
	out, err := policyEval(ctx, *policyDir, data, *inputFile, *query)
	if err != nil {
		return policyFailed(e.stderr, "eval", err)
	}
	fmt.Fprintf(e.stdout, "%s\n", out)
	return exitOK
}

// policyEval evaluates query and returns its value as indented JSON.
func policyEval(ctx context.Context, dir string, data []string, inputFile, query string) ([]byte, error) {
	p, err := policytool.Load(dir, &policytool.LoadOptions{Data: data})
	if err != nil {
		return nil, err
	}
	input, err := policytool.ReadInput(inputFile)
	if err != nil {
		return nil, err
	}
	v, err := p.Eval(ctx, input, query)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(v, "", "  ")
}

func runPolicyCheck(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("policy check", "[PATH...]",
		"Parse and compile the Rego files and data under PATH (default rego/) as Rego v1 in strict mode,\n"+
			"and check that every file is in opa fmt style. Prints each problem as FILE:LINE: message and\n"+
			"exits 1 if there is any.", e)
	fs.positional = true
	if code, ok := fs.parse(args); !ok {
		return code
	}
	r := policytool.Check(ctx, fs.Args())
	for _, p := range r.Problems {
		fmt.Fprintln(e.stderr, p)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(e.stderr, "mcpgate policy check: %d problem(s)\n", len(r.Problems))
		return exitFail
	}
	fmt.Fprintf(e.stdout, "policy check: %d Rego files, no problems\n", r.Files)
	return exitOK
}

func runPolicyFmt(_ context.Context, args []string, e *env) int {
	fs := newFlagSet("policy fmt", "[-w] [PATH...]",
		"List the Rego files under PATH (default rego/) that are not in opa fmt style, and exit 1 if\n"+
			"there are any; with -w, rewrite them in place instead.", e)
	fs.positional = true
	var opts policytool.FmtOptions
	fs.BoolVar(&opts.Write, "w", false, "rewrite the files in place")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	unformatted, err := policytool.Fmt(fs.Args(), &opts)
	for _, name := range unformatted {
		fmt.Fprintln(e.stdout, name)
	}
	switch {
	case err != nil:
		return policyFailed(e.stderr, "fmt", err)
	case len(unformatted) > 0 && !opts.Write:
		return exitFail
	}
	return exitOK
}
