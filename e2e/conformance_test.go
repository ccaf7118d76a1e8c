package e2e

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testtools/conformance"
	"github.com/mcpgate/mcpgate/internal/testtools/everything"
)

// expectedFailures reads testdata/conformance-expected-failures.txt: lines
// "<run> <scenario> <reason…>", the scenarios that pass against the fixture
// directly but not through the gateway, each with the reason. The list is to
// shrink: an entry that passes fails the test, so it is removed when fixed.
func expectedFailures(t *testing.T, run string) map[string]string {
	t.Helper()
	f, err := os.Open("testdata/conformance-expected-failures.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			t.Fatalf("expected-failures line %q: want <run> <scenario> <reason>", line)
		}
		if fields[0] == run {
			out[fields[1]] = strings.Join(fields[2:], " ")
		}
	}
	return out
}

// compare runs the suite against the fixture directly and through the
// gateway, and requires every scored scenario that passes directly to pass
// through the gateway too, except the expected failures. The fixture runs
// stateless or stateful; the gateway's upstream is another fixture in the
// mode upstreamStateless says, so that a client of one revision meets an
// upstream of the other (the same mode: the very fixture measured
// directly).
func compare(t *testing.T, run, version string, stateless, upstreamStateless bool, args ...string) {
	fixture := everything.StartEverythingServer(t, stateless)
	upstream := fixture
	if upstreamStateless != stateless {
		upstream = everything.StartEverythingServer(t, upstreamStateless)
	}
	direct := conformance.Conformance(t, version, fixture, args...)
	viaGateway := conformance.Conformance(t, version, startGateway(t, upstream, true), args...)
	t.Logf("%s direct:\n%s", run, direct.Summary())
	t.Logf("%s through mcpgate:\n%s", run, viaGateway.Summary())

	expected := expectedFailures(t, run)
	if len(direct.Scenarios) < 20 {
		t.Fatalf("only %d scenarios ran directly; the suite did not run properly:\n%s", len(direct.Scenarios), direct.Output)
	}
	for name, s := range direct.Scenarios {
		if !s.OK() || !direct.Scored(name) {
			continue
		}
		g, ran := viaGateway.Scenarios[name]
		passed := ran && g.OK()
		reason, isExpected := expected[name]
		switch {
		case !passed && !isExpected:
			t.Errorf("%s: scenario %s passes directly but fails through mcpgate:%s", run, name, failingChecks(g))
		case passed && isExpected:
			t.Errorf("%s: scenario %s now passes through mcpgate; remove it from the expected failures (%s)", run, name, reason)
		}
	}
	for name := range expected {
		if _, ok := direct.Scenarios[name]; !ok {
			t.Errorf("%s: expected failure %s names no scenario that ran", run, name)
		}
	}
	dt, gt := direct.Totals(direct.Scored), viaGateway.Totals(viaGateway.Scored)
	t.Logf("SUMMARY %s: direct %v | through mcpgate %v", run, dt, gt)
}

func failingChecks(s *conformance.ScenarioResult) string {
	if s == nil {
		return " (did not run)"
	}
	var b strings.Builder
	for _, c := range s.Checks {
		if c.Status == "FAILURE" {
			b.WriteString("\n    " + c.Name + ": " + c.Message())
		}
	}
	return b.String()
}

// The four pairings of client and upstream revision, for each suite
// (docs/conformance.md). Through mcpgate, a client meets an upstream of
// either mode. Directly, a 2025-11-25 client meets the fixture its upstream
// would be: the stateless fixture cannot ask a 2025 client anything during
// a call (no session to ask on; its input-required results are for
// 2026-07-28 clients), directly or not. A 2026-07-28 client meets the
// stateless fixture directly whatever its upstream: what it gets there is
// what mcpgate owes it in front of a stateful upstream too.

func TestConformance2025Stable(t *testing.T) {
	t.Parallel()
	compare(t, "0.1.16/2025-11-25", "0.1.16", false, false, "--spec-version", "2025-11-25")
}

func TestConformance2025StableToStateless(t *testing.T) {
	t.Parallel()
	compare(t, "0.1.16/2025-11-25/to-stateless", "0.1.16", true, true, "--spec-version", "2025-11-25")
}

func TestConformance2025Requirements(t *testing.T) {
	t.Parallel()
	compare(t, "alpha/2025-11-25", "0.2.0-alpha.12", false, false, "--requirements", "2025-11-25")
}

func TestConformance2025RequirementsToStateless(t *testing.T) {
	t.Parallel()
	compare(t, "alpha/2025-11-25/to-stateless", "0.2.0-alpha.12", true, true, "--requirements", "2025-11-25")
}

func TestConformance2026Requirements(t *testing.T) {
	t.Parallel()
	compare(t, "alpha/2026-07-28", "0.2.0-alpha.12", true, true, "--requirements", "2026-07-28")
}

func TestConformance2026RequirementsToStateful(t *testing.T) {
	t.Parallel()
	compare(t, "alpha/2026-07-28/to-stateful", "0.2.0-alpha.12", true, false, "--requirements", "2026-07-28")
}
