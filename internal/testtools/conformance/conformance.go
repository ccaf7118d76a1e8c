package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/node"
)

// ConformancePackage returns the npm prefix name (under NPMDir) that
// scripts/install-tools.sh installs @modelcontextprotocol/conformance@version
// into, e.g. "conformance-0.1.16".
func ConformancePackage(version string) string { return "conformance-" + version }

// Check is one check of a conformance scenario, as written to checks.json.
type Check struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Status      string          `json:"status"` // SUCCESS, FAILURE, WARNING, INFO, ...
	Error       string          `json:"errorMessage,omitempty"`
	Details     json.RawMessage `json:"details,omitempty"`
}

// Message is the check's error message, or its description if it has none.
func (c Check) Message() string {
	if c.Error != "" {
		return c.Error
	}
	return c.Description
}

// ScenarioResult is the outcome of one conformance scenario.
type ScenarioResult struct {
	Scenario string
	// Passed, Failed and Warnings count the checks with status SUCCESS,
	// FAILURE and WARNING.
	Passed, Failed, Warnings int
	Checks                   []Check
	// Dir is the scenario's result directory ("" if the suite wrote none,
	// e.g. when the scenario crashed; its checks then come from the
	// suite's summary output).
	Dir string
}

// OK reports whether the scenario has no FAILURE check.
func (s *ScenarioResult) OK() bool { return s.Failed == 0 }

// ConformanceResult is the outcome of one run of the conformance suite.
type ConformanceResult struct {
	Version   string
	Args      []string
	Scenarios map[string]*ScenarioResult
	// NotScored maps the scenarios that a --requirements run ran but
	// does not score (extension, pending, added-after-release) to the reason
	// the suite printed.
	NotScored map[string]string
	ExitCode  int
	Output    string // the suite's combined stdout and stderr
	OutputDir string

	totalLine []int // checks passed, failed from the suite's "Total:" line
}

// Failing returns the sorted names of the scenarios with any FAILURE check.
func (r *ConformanceResult) Failing() []string {
	var out []string
	for name, s := range r.Scenarios {
		if !s.OK() {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// FailingScored is Failing without the scenarios in NotScored.
func (r *ConformanceResult) FailingScored() []string {
	var out []string
	for _, name := range r.Failing() {
		if _, ok := r.NotScored[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

// Totals counts scenarios (passed = no FAILURE check) and checks.
type Totals struct {
	ScenariosPassed, ScenariosFailed int
	ChecksPassed, ChecksFailed       int
	ChecksWarning                    int
}

func (t Totals) String() string {
	s := fmt.Sprintf("scenarios %d passed, %d failed; checks %d passed, %d failed",
		t.ScenariosPassed, t.ScenariosFailed, t.ChecksPassed, t.ChecksFailed)
	if t.ChecksWarning > 0 {
		s += fmt.Sprintf(", %d warnings", t.ChecksWarning)
	}
	return s
}

// Totals adds up the scenarios for which keep returns true (all if keep is nil).
func (r *ConformanceResult) Totals(keep func(scenario string) bool) Totals {
	var t Totals
	for name, s := range r.Scenarios {
		if keep != nil && !keep(name) {
			continue
		}
		if s.OK() {
			t.ScenariosPassed++
		} else {
			t.ScenariosFailed++
		}
		t.ChecksPassed += s.Passed
		t.ChecksFailed += s.Failed
		t.ChecksWarning += s.Warnings
	}
	return t
}

// Scored reports whether scenario counts towards conformance (it is not in NotScored).
func (r *ConformanceResult) Scored(scenario string) bool {
	_, ok := r.NotScored[scenario]
	return !ok
}

// Summary is a multi-line human-readable report: totals (all, and scored
// only if some scenarios are not scored) and every failing scenario with its
// failing checks.
func (r *ConformanceResult) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "conformance %s %s (exit %d)\n", r.Version, strings.Join(r.Args, " "), r.ExitCode)
	fmt.Fprintf(&b, "  all:    %v\n", r.Totals(nil))
	if len(r.NotScored) > 0 {
		fmt.Fprintf(&b, "  scored: %v\n", r.Totals(r.Scored))
	}
	if len(r.NotScored) > 0 {
		names := make([]string, 0, len(r.NotScored))
		for name := range r.NotScored {
			names = append(names, name)
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "  not scored (%d):", len(names))
		for _, name := range names {
			mark := "ok"
			if s, ok := r.Scenarios[name]; ok && !s.OK() {
				mark = "FAIL"
			}
			fmt.Fprintf(&b, " %s[%s,%s]", name, r.NotScored[name], mark)
		}
		b.WriteString("\n")
	}
	names := make([]string, 0, len(r.Scenarios))
	for name := range r.Scenarios {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, c := range r.Scenarios[name].Checks {
			if c.Status == "WARNING" {
				fmt.Fprintf(&b, "  WARN %s: %s: %s\n", name, c.ID, oneLine(c.Message(), 200))
			}
		}
	}
	for _, name := range r.Failing() {
		s := r.Scenarios[name]
		tag := ""
		if reason, ok := r.NotScored[name]; ok {
			tag = " [not scored: " + reason + "]"
		}
		fmt.Fprintf(&b, "  FAIL %s%s: %d passed, %d failed\n", name, tag, s.Passed, s.Failed)
		for _, c := range s.Checks {
			if c.Status == "FAILURE" {
				fmt.Fprintf(&b, "      - %s: %s\n", c.ID, oneLine(c.Message(), 200))
			}
		}
	}
	return b.String()
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// ConformanceTimeout bounds one run of the conformance suite (it is also
// cut short by the test's deadline).
const ConformanceTimeout = 15 * time.Minute

// Conformance runs the MCP conformance suite (version "0.1.16" or
// "0.2.0-alpha.12", as installed by scripts/install-tools.sh) in server mode
// against url, with extra args such as "--spec-version", "2025-11-25" or
// "--requirements", "2026-07-28". Results go to a directory under
// t.TempDir(); every <out>/server-*/checks.json is parsed into a
// ScenarioResult. A non-zero exit of the suite is not a test failure: the
// caller judges the result. A run that could not start, or that produced no
// result at all, fails the test.
func Conformance(t testing.TB, version, url string, args ...string) *ConformanceResult {
	t.Helper()
	node22 := node.Node22(t)
	script := node.NPMPackageBin(t, ConformancePackage(version), "conformance")
	outDir := filepath.Join(t.TempDir(), "results")

	ctx, cancel := context.WithTimeout(context.Background(), ConformanceTimeout)
	defer cancel()
	if dl, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dl.Deadline(); ok {
			var c2 context.CancelFunc
			ctx, c2 = context.WithDeadline(ctx, d.Add(-30*time.Second))
			defer c2()
		}
	}

	argv := append([]string{script, "server", "--url", url, "--output-dir", outDir}, args...)
	cmd := testtools.CommandContext(ctx, node22, argv...)
	cmd.Env = node.Env(t, node22)
	cmd.Dir = t.TempDir()
	p, err := testtools.StartProc(t, "conformance "+version, cmd)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	res := &ConformanceResult{
		Version:   version,
		Args:      args,
		Scenarios: map[string]*ScenarioResult{},
		NotScored: map[string]string{},
		Output:    p.Output(),
		OutputDir: outDir,
	}
	var exitErr *exec.ExitError
	switch {
	case p.Err() == nil:
	case errors.As(p.Err(), &exitErr) && exitErr.ExitCode() >= 0:
		res.ExitCode = exitErr.ExitCode()
	default:
		t.Fatalf("conformance %s %v: %v (context: %v)\noutput:\n%s", version, args, p.Err(), ctx.Err(), res.Output)
	}
	if ctx.Err() != nil {
		t.Fatalf("conformance %s %v: timed out: %v\noutput:\n%s", version, args, ctx.Err(), res.Output)
	}
	if err := res.readResults(outDir); err != nil {
		t.Fatalf("conformance %s %v: %v\noutput:\n%s", version, args, err, res.Output)
	}
	res.parseOutput()
	if res.totalLine != nil {
		got := res.Totals(nil)
		if got.ChecksPassed != res.totalLine[0] || got.ChecksFailed != res.totalLine[1] {
			t.Errorf("conformance %s %v: parsed %v, but the suite printed Total: %d passed, %d failed",
				version, args, got, res.totalLine[0], res.totalLine[1])
		}
	}
	if len(res.Scenarios) == 0 {
		t.Fatalf("conformance %s %v ran no scenario (exit %d)\noutput:\n%s", version, args, res.ExitCode, res.Output)
	}
	return res
}

// resultDirRE matches a result directory's name: "server-<scenario>-<ISO
// time with ':' and '.' replaced by '-'>".
var resultDirRE = regexp.MustCompile(`^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$`)

func (r *ConformanceResult) readResults(outDir string) error {
	return filepath.WalkDir(outDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == outDir {
				return nil // no scenario wrote anything; parseOutput may still find some
			}
			return err
		}
		if d.IsDir() || d.Name() != "checks.json" {
			return nil
		}
		dir := filepath.Dir(path)
		rel, err := filepath.Rel(outDir, dir)
		if err != nil {
			return err
		}
		// Scenario names may contain '/', which the suite keeps as
		// subdirectories.
		rel = filepath.ToSlash(rel)
		m := resultDirRE.FindStringSubmatch(rel)
		if m == nil {
			return fmt.Errorf("unexpected result directory %q", rel)
		}
		name := m[1]
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var checks []Check
		if err := json.Unmarshal(data, &checks); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if _, dup := r.Scenarios[name]; dup {
			return fmt.Errorf("scenario %s has two result directories", name)
		}
		s := &ScenarioResult{Scenario: name, Checks: checks, Dir: dir}
		for _, c := range checks {
			switch c.Status {
			case "SUCCESS":
				s.Passed++
			case "FAILURE":
				s.Failed++
			case "WARNING":
				s.Warnings++
			}
		}
		r.Scenarios[name] = s
		return nil
	})
}

var (
	ansiRE = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	// "✗ tools-list: 3 passed, 1 failed" in the suite's closing summary.
	summaryRE = regexp.MustCompile(`^[✓✗] (\S+): (\d+) passed, (\d+) failed`)
	// "  ✗ tasks-lifecycle (extension)" under "Not scored for ...".
	notScoredRE = regexp.MustCompile(`^\s+[✓✗] (\S+) \((.+)\)\s*$`)
	// "Total: 165 passed, 30 failed" closing a suite run.
	totalRE = regexp.MustCompile(`^Total: (\d+) passed, (\d+) failed`)
)

// parseOutput reads what only the console output tells: the scenarios a
// --requirements run does not score, and scenarios that crashed before
// writing a checks.json (they appear in the summary only).
func (r *ConformanceResult) parseOutput() {
	inNotScored := false
	for _, line := range strings.Split(ansiRE.ReplaceAllString(r.Output, ""), "\n") {
		if strings.HasPrefix(line, "Not scored for ") {
			inNotScored = true
			continue
		}
		if inNotScored {
			if m := notScoredRE.FindStringSubmatch(line); m != nil {
				r.NotScored[m[1]] = m[2]
				continue
			}
			inNotScored = false
		}
		if m := totalRE.FindStringSubmatch(line); m != nil {
			passed, _ := strconv.Atoi(m[1])
			failed, _ := strconv.Atoi(m[2])
			r.totalLine = []int{passed, failed}
			continue
		}
		if m := summaryRE.FindStringSubmatch(line); m != nil {
			if _, ok := r.Scenarios[m[1]]; ok {
				continue
			}
			passed, _ := strconv.Atoi(m[2])
			failed, _ := strconv.Atoi(m[3])
			if passed == 0 && failed == 0 {
				continue // skipped: nothing ran
			}
			s := &ScenarioResult{Scenario: m[1], Passed: passed, Failed: failed}
			if failed > 0 {
				s.Checks = []Check{{ID: m[1], Name: m[1], Status: "FAILURE",
					Error: "no checks.json written (scenario crashed?); see Output"}}
			}
			r.Scenarios[m[1]] = s
		}
	}
}
