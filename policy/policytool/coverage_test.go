package policytool_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate/policy/policytool"
)

func TestCoverage(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, passingTests)
	var out strings.Builder
	rep, err := policytool.Test(t.Context(), []string{dir}, &policytool.TestOptions{Coverage: true, Verbose: true, Output: &out})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "tiny.rego")
	// OPA reports line 7 twice (head and body); the report passes on what
	// OPA says.
	want := &policytool.CoverageReport{
		Files:        []policytool.FileCoverage{{Name: name, Percent: 100 * 2.0 / 3, NotCovered: []policytool.LineRange{{7, 7}, {7, 7}}}},
		CoveredLines: 2, NotCoveredLines: 1,
	}
	if diff := cmp.Diff(want, rep.Coverage); diff != "" {
		t.Errorf("coverage (-want +got):\n%s", diff)
	}
	table := "\ncoverage (policy files, tests excluded):\n" +
		"    66.7%  " + name + "\n" +
		strings.Repeat("           not covered: "+name+":7-7\n", 2) +
		"    66.7%  total (2 of 3 lines)\n"
	if !strings.HasSuffix(out.String(), table) {
		t.Errorf("output ends\n%s\nwant\n%s", out.String(), table)
	}
}

func TestCoveragePercent(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		report policytool.CoverageReport
		want   float64
	}{
		"no lines": {policytool.CoverageReport{}, 100},
		"half":     {policytool.CoverageReport{CoveredLines: 3, NotCoveredLines: 3}, 50},
		"none":     {policytool.CoverageReport{NotCoveredLines: 4}, 0},
	}
	for name, tt := range tests {
		if got := tt.report.Percent(); got != tt.want {
			t.Errorf("%s: Percent() = %v, want %v", name, got, tt.want)
		}
	}
}
