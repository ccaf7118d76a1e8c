package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/policy"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util"
)

// Defaults of the policy commands.
const (
	defaultPolicyDir   = "rego"
	defaultPolicyQuery = policy.DefaultQuery
	policyTestTimeout  = 5 * time.Second // per test, as opa test
)

// policyCommands is the mcpgate policy group: OPA's tooling in process, so
// the security team needs no opa binary.
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

// policyPaths returns the positional paths, or the default directory.
func policyPaths(fs *flagSet) []string {
	if fs.NArg() == 0 {
		return []string{defaultPolicyDir}
	}
	return fs.Args()
}

// regoV1 are the parser options of every policy command.
var regoV1 = ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}

// --- test ------------------------------------------------------------------

type policyTestFlags struct {
	verbose   bool
	coverage  bool
	threshold float64
	run       string
	timeout   time.Duration
}

func runPolicyTest(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("policy test", "[-v] [--coverage] [--threshold N] [--run REGEX] [--timeout D] [PATH...]",
		"Run the tests (rules named test_*) of the Rego files and data under PATH (default rego/), as opa test\n"+
			"does. Exits 1 if a test fails or errors, if there are no tests, or if coverage is below --threshold.", e)
	fs.positional = true
	var f policyTestFlags
	fs.BoolVar(&f.verbose, "v", false, "print every test, and the trace of failures")
	fs.BoolVar(&f.coverage, "coverage", false, "print the coverage of each policy file and in total")
	fs.Float64Var(&f.threshold, "threshold", 0, "fail if total coverage is below this percentage (implies --coverage)")
	fs.StringVar(&f.run, "run", "", "run only the tests whose names match this regular expression")
	fs.DurationVar(&f.timeout, "timeout", policyTestTimeout, "time limit of each test")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if f.threshold < 0 || f.threshold > 100 {
		code, _ := fs.usageError("--threshold must be between 0 and 100")
		return code
	}
	f.coverage = f.coverage || f.threshold > 0
	if err := policyTest(ctx, policyPaths(fs), f, e.stdout); err != nil {
		fmt.Fprintf(e.stderr, "mcpgate policy test: %v\n", err)
		return exitFail
	}
	return exitOK
}

// policyTest runs the tests under paths and reports them to w. It returns
// an error if any test did not pass or coverage is below the threshold.
func policyTest(ctx context.Context, paths []string, f policyTestFlags, w io.Writer) error {
	modules, store, err := tester.LoadWithParserOptions(paths, nil, regoV1)
	if err != nil {
		return err
	}
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return err
	}
	defer store.Abort(ctx, txn)

	var cov *cover.Cover
	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().
			WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
			WithEnablePrintStatements(true)).
		SetStore(store).
		SetModules(modules).
		SetDefaultRegoVersion(ast.RegoV1).
		CapturePrintOutput(true).
		EnableTracing(f.verbose).
		SetTimeout(f.timeout).
		Filter(f.run)
	if f.coverage {
		cov = cover.New()
		runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return err
	}
	total, failed := 0, 0
	counted := make(chan *tester.Result)
	go func() {
		defer close(counted)
		for r := range ch {
			total++
			if !r.Pass() && !r.Skip {
				failed++
			}
			counted <- r
		}
	}()
	rep := tester.PrettyReporter{Output: w, Verbose: f.verbose, FailureLine: true}
	if err := rep.Report(counted); err != nil {
		return err
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d of %d tests failed", failed, total)
	case total == 0:
		return fmt.Errorf("no tests found in %s", strings.Join(paths, ", "))
	case f.coverage:
		return reportCoverage(w, cov.Report(modules), f)
	}
	return nil
}

// reportCoverage prints the coverage of each policy file (test files are
// left out: they would only inflate the total) and fails below threshold.
func reportCoverage(w io.Writer, report cover.Report, f policyTestFlags) error {
	files := make([]string, 0, len(report.Files))
	for name := range report.Files {
		if !strings.HasSuffix(name, "_test.rego") {
			files = append(files, name)
		}
	}
	sort.Strings(files)
	covered, notCovered := 0, 0
	fmt.Fprintln(w, "\ncoverage (policy files, tests excluded):")
	for _, name := range files {
		fr := report.Files[name]
		covered += fr.CoveredLines
		notCovered += fr.NotCoveredLines
		fmt.Fprintf(w, "  %6.1f%%  %s\n", fr.Coverage, name)
		if f.verbose {
			for _, r := range fr.NotCovered {
				fmt.Fprintf(w, "           not covered: %s:%d-%d\n", name, r.Start.Row, r.End.Row)
			}
		}
	}
	pct := 100.0
	if covered+notCovered > 0 {
		pct = 100 * float64(covered) / float64(covered+notCovered)
	}
	fmt.Fprintf(w, "  %6.1f%%  total (%d of %d lines)\n", pct, covered, covered+notCovered)
	if pct < f.threshold {
		return fmt.Errorf("coverage %.1f%% is below the threshold of %.1f%%", pct, f.threshold)
	}
	return nil
}

// --- eval ------------------------------------------------------------------

// dataFiles is a repeatable --data flag.
type dataFiles []string

func (d *dataFiles) String() string     { return strings.Join(*d, ",") }
func (d *dataFiles) Set(v string) error { *d = append(*d, v); return nil }

func runPolicyEval(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("policy eval", "--input FILE [--policy DIR] [--data FILE...] [--query REF]",
		"Evaluate the decision for the input document in FILE and print it as JSON. The policy is the\n"+
			"Rego files of DIR (tests left out) with the JSON/YAML data beside them; --data files, if given,\n"+
			"replace that data. Exits 0 when the policy evaluated, whether it allows or denies (read \"allow\"),\n"+
			"and 1 when it could not: a load or compile error, an evaluation error or an undefined decision,\n"+
			"all of which the gateway treats as deny.", e)
	policyDir := fs.String("policy", defaultPolicyDir, "the policy directory")
	inputFile := fs.String("input", "", "the input document, JSON (required)")
	query := fs.String("query", defaultPolicyQuery, "the document to evaluate")
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
		fmt.Fprintf(e.stderr, "mcpgate policy eval: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "%s\n", out)
	return exitOK
}

// policyEval evaluates query and returns its value as indented JSON.
func policyEval(ctx context.Context, policyDir string, dataPaths []string, inputFile, query string) ([]byte, error) {
	loaded, err := loader.NewFileLoader().WithRegoVersion(ast.RegoV1).Filtered([]string{policyDir}, skipTests)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", policyDir, err)
	}
	docs := loaded.Documents
	if len(dataPaths) > 0 {
		if docs, err = loadData(dataPaths); err != nil {
			return nil, err
		}
	}
	input, err := readJSONFile(inputFile)
	if err != nil {
		return nil, err
	}
	opts := []func(*rego.Rego){
		rego.Query(query),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Store(inmem.NewFromObject(docs)),
		rego.Input(input),
	}
	opts = append(opts, policy.EvalOptions()...)
	for _, m := range loaded.ParsedModules() {
		opts = append(opts, rego.ParsedModule(m))
	}
	rs, err := rego.New(opts...).Eval(ctx)
	switch {
	case err != nil:
		return nil, err
	case len(rs) == 0:
		return nil, fmt.Errorf("%s is undefined for this input (the gateway denies)", query)
	}
	return json.MarshalIndent(rs[0].Expressions[0].Value, "", "  ")
}

// skipTests is a loader filter that leaves out _test.rego files.
func skipTests(_ string, info fs.FileInfo, _ int) bool {
	return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
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

func readJSONFile(name string) (any, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var v any
	if err := util.UnmarshalJSON(b, &v); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return v, nil
}

// --- check and fmt ---------------------------------------------------------

func runPolicyCheck(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("policy check", "[PATH...]",
		"Parse and compile the Rego files and data under PATH (default rego/) as Rego v1 in strict mode,\n"+
			"and check that every file is in opa fmt style. Prints each problem as FILE:LINE: message and\n"+
			"exits 1 if there is any.", e)
	fs.positional = true
	if code, ok := fs.parse(args); !ok {
		return code
	}
	problems, files := policyCheck(ctx, policyPaths(fs))
	for _, p := range problems {
		fmt.Fprintln(e.stderr, p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(e.stderr, "mcpgate policy check: %d problem(s)\n", len(problems))
		return exitFail
	}
	fmt.Fprintf(e.stdout, "policy check: %d Rego files, no problems\n", files)
	return exitOK
}

// policyCheck returns every problem of the policies under paths and how
// many Rego files it checked.
func policyCheck(ctx context.Context, paths []string) (problems []string, files int) {
	loaded, err := loader.NewFileLoader().WithRegoVersion(ast.RegoV1).WithProcessAnnotation(true).All(paths)
	if err != nil {
		return splitErrors(err), 0
	}
	for _, name := range sortedKeys(loaded.Modules) {
		if !formatted(name, loaded.Modules[name].Raw) {
			problems = append(problems, name+": not in opa fmt style (run: mcpgate policy fmt -w "+name+")")
		}
	}
	store := inmem.NewFromObject(loaded.Documents)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return append(problems, err.Error()), len(loaded.Modules)
	}
	defer store.Abort(ctx, txn)
	c := ast.NewCompiler().WithStrict(true).WithEnablePrintStatements(true).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	if c.Compile(loaded.ParsedModules()); c.Failed() {
		for _, e := range c.Errors {
			problems = append(problems, e.Error())
		}
	}
	return problems, len(loaded.Modules)
}

// splitErrors turns a loader error into one problem per line.
func splitErrors(err error) []string {
	var out []string
	if errs, ok := errors.AsType[loader.Errors](err); ok {
		for _, e := range errs {
			out = append(out, e.Error())
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

// formatted says whether src is in opa fmt style.
func formatted(name string, src []byte) bool {
	out, err := format.SourceWithOpts(name, src, format.Opts{RegoVersion: ast.RegoV1, ParserOptions: &regoV1})
	return err == nil && bytes.Equal(out, src)
}

func runPolicyFmt(_ context.Context, args []string, e *env) int {
	fs := newFlagSet("policy fmt", "[-w] [PATH...]",
		"List the Rego files under PATH (default rego/) that are not in opa fmt style, and exit 1 if\n"+
			"there are any; with -w, rewrite them in place instead.", e)
	fs.positional = true
	write := fs.Bool("w", false, "rewrite the files in place")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	unformatted, err := policyFmt(policyPaths(fs), *write)
	for _, name := range unformatted {
		fmt.Fprintln(e.stdout, name)
	}
	switch {
	case err != nil:
		fmt.Fprintf(e.stderr, "mcpgate policy fmt: %v\n", err)
		return exitFail
	case len(unformatted) > 0 && !*write:
		return exitFail
	}
	return exitOK
}

// policyFmt returns the Rego files under paths not in opa fmt style,
// rewriting them if write is set.
func policyFmt(paths []string, write bool) ([]string, error) {
	var names []string
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".rego") {
				names = append(names, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	var unformatted []string
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			return unformatted, err
		}
		out, err := format.SourceWithOpts(name, src, format.Opts{RegoVersion: ast.RegoV1, ParserOptions: &regoV1})
		if err != nil {
			return unformatted, fmt.Errorf("format %s: %w", name, err)
		}
		if bytes.Equal(out, src) {
			continue
		}
		unformatted = append(unformatted, name)
		if write {
			if err := os.WriteFile(name, out, 0o644); err != nil {
				return unformatted, err
			}
		}
	}
	return unformatted, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
