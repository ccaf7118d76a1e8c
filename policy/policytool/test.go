package policytool

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// DefaultTestTimeout is the time limit of each test, as opa test's.
const DefaultTestTimeout = 5 * time.Second

// TestOptions configure Test. The zero value runs every test, without
// coverage, and writes nothing.
type TestOptions struct {
	// Verbose reports every test, the trace of failures and the lines
	// coverage missed; otherwise only failures and the summary.
	Verbose bool
	// Coverage measures and reports the line coverage of the policy files.
	Coverage bool
	// Threshold is the total coverage, in percent, below which Test fails
	// with ErrBelowThreshold. If zero, there is none; above zero it
	// implies Coverage.
	Threshold float64
	// Run is a regular expression; only the tests whose names match run.
	// If empty, all tests run.
	Run string
	// Timeout is the time limit of each test. If zero, defaults to
	// DefaultTestTimeout.
	Timeout time.Duration
	// Output receives the report, in opa test's format, and the coverage
	// table. If nil, nothing is written.
	Output io.Writer
	// Library are Rego modules (file name → source) compiled with the
	// files under paths, as the gateway compiles the built-in library with
	// policy.dir (policy.library: builtin): an organisation's data and
	// tests run against the library the gateway embeds. If nil, none.
	Library map[string]string
}

// TestReport is what a test run found.
type TestReport struct {
	// Total is the number of tests run.
	Total int
	// Failed is the number of tests that failed or errored.
	Failed int
	// Coverage is the coverage of the policy files; nil unless coverage
	// was asked for and every test passed.
	Coverage *CoverageReport
}

// Test runs the tests (rules named test_*) of the Rego files and data under
// paths (DefaultDir if none), as opa test does, and writes the report to
// opts.Output. A nil opts means the zero TestOptions.
//
// The report is nil only if the tests could not run. The error wraps
// ErrTestsFailed, ErrNoTests or ErrBelowThreshold when they ran but did
// not all pass.
func Test(ctx context.Context, paths []string, opts *TestOptions) (*TestReport, error) {
	paths, o := pathsOrDefault(paths), opts.withDefaults()
	rep, err := runTests(ctx, paths, &o)
	if err != nil {
		return nil, &Error{Op: "test", Err: err}
	}
	if err := rep.verdict(paths, o.Threshold); err != nil {
		return rep, &Error{Op: "test", Err: err}
	}
	return rep, nil
}

func (o *TestOptions) withDefaults() TestOptions {
	var out TestOptions
	if o != nil {
		out = *o
	}
	if out.Timeout == 0 {
		out.Timeout = DefaultTestTimeout
	}
	if out.Output == nil {
		out.Output = io.Discard
	}
	out.Coverage = out.Coverage || out.Threshold > 0
	return out
}

// runTests loads the tests, runs them and reports to o.Output.
func runTests(ctx context.Context, paths []string, o *TestOptions) (*TestReport, error) {
	modules, store, err := tester.LoadWithParserOptions(paths, nil, parserOptions())
	if err != nil {
		return nil, err
	}
	if err := addLibrary(modules, o.Library); err != nil {
		return nil, err
	}
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return nil, err
	}
	defer store.Abort(ctx, txn)
	runner := newRunner(storage.NonEmpty(ctx, store, txn), o).SetStore(store).SetModules(modules)
	var cov *cover.Cover
	if o.Coverage {
		cov = cover.New()
		runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return nil, err
	}
	rep := &TestReport{}
	if err := rep.collect(ch, o); err != nil {
		return nil, err
	}
	if cov != nil && rep.Failed == 0 && rep.Total > 0 {
		rep.Coverage = newCoverageReport(cov.Report(modules))
		rep.Coverage.write(o.Output, o.Verbose)
	}
	return rep, nil
}

// addLibrary parses the library's modules into modules, named
// "library:<file>" as the gateway names them.
func addLibrary(modules map[string]*ast.Module, library map[string]string) error {
	for name, src := range library {
		m, err := ast.ParseModuleWithOpts("library:"+name, src, parserOptions())
		if err != nil {
			return fmt.Errorf("library %s: %w", name, err)
		}
		modules["library:"+name] = m
	}
	return nil
}

// newRunner returns a test runner as opa test configures it, with print
// statements captured and data conflicting with rules reported.
func newRunner(conflicts func([]string) (bool, error), o *TestOptions) *tester.Runner {
	return tester.NewRunner().
		SetCompiler(ast.NewCompiler().
			WithPathConflictsCheck(conflicts).
			WithEnablePrintStatements(true)).
		SetDefaultRegoVersion(ast.RegoV1).
		CapturePrintOutput(true).
		EnableTracing(o.Verbose).
		SetTimeout(o.Timeout).
		Filter(o.Run)
}

// collect counts the results of ch while opa's reporter writes them.
func (r *TestReport) collect(ch chan *tester.Result, o *TestOptions) error {
	counted := make(chan *tester.Result)
	go func() {
		defer close(counted)
		for res := range ch {
			r.Total++
			if !res.Pass() && !res.Skip {
				r.Failed++
			}
			counted <- res
		}
	}()
	rep := tester.PrettyReporter{Output: o.Output, Verbose: o.Verbose, FailureLine: true}
	return rep.Report(counted)
}

// verdict says why the run did not pass, if it did not.
func (r *TestReport) verdict(paths []string, threshold float64) error {
	switch {
	case r.Failed > 0:
		return fmt.Errorf("%d of %d %w", r.Failed, r.Total, ErrTestsFailed)
	case r.Total == 0:
		return fmt.Errorf("%w in %s", ErrNoTests, strings.Join(paths, ", "))
	case r.Coverage != nil && r.Coverage.Percent() < threshold:
		return fmt.Errorf("coverage %.1f%% is %w of %.1f%%", r.Coverage.Percent(), ErrBelowThreshold, threshold)
	}
	return nil
}
