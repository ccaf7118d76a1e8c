package policytool

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/cover"
)

// CoverageReport is the line coverage of the policy files of a test run.
// Test files are left out: they would only inflate the total.
type CoverageReport struct {
	// Files are the policy files, sorted by name.
	Files []FileCoverage
	// CoveredLines and NotCoveredLines are the totals over Files.
	CoveredLines, NotCoveredLines int
}

// FileCoverage is the coverage of one policy file.
type FileCoverage struct {
	// Name is the file's path as loaded.
	Name string
	// Percent is the share of its lines covered.
	Percent float64
	// NotCovered are the line ranges no test reached.
	NotCovered []LineRange
}

// LineRange is a range of lines, both ends included.
type LineRange struct{ Start, End int }

// Percent is the share of covered lines over all files; 100 if there are no
// lines.
func (c *CoverageReport) Percent() float64 {
	all := c.CoveredLines + c.NotCoveredLines
	if all == 0 {
		return 100
	}
	return 100 * float64(c.CoveredLines) / float64(all)
}

func newCoverageReport(report cover.Report) *CoverageReport {
	c := &CoverageReport{}
	for name, fr := range report.Files {
		if isTestFile(name) {
			continue
		}
		c.CoveredLines += fr.CoveredLines
		c.NotCoveredLines += fr.NotCoveredLines
		fc := FileCoverage{Name: name, Percent: fr.Coverage}
		for _, r := range fr.NotCovered {
			fc.NotCovered = append(fc.NotCovered, LineRange{r.Start.Row, r.End.Row})
		}
		c.Files = append(c.Files, fc)
	}
	slices.SortFunc(c.Files, func(a, b FileCoverage) int { return strings.Compare(a.Name, b.Name) })
	return c
}

// write prints the coverage table: each file, with the lines not covered if
// verbose, then the total.
func (c *CoverageReport) write(w io.Writer, verbose bool) {
	fmt.Fprintln(w, "\ncoverage (policy files, tests excluded):")
	for _, f := range c.Files {
		fmt.Fprintf(w, "  %6.1f%%  %s\n", f.Percent, f.Name)
		if verbose {
			for _, r := range f.NotCovered {
				fmt.Fprintf(w, "           not covered: %s:%d-%d\n", f.Name, r.Start, r.End)
			}
		}
	}
	all := c.CoveredLines + c.NotCoveredLines
	fmt.Fprintf(w, "  %6.1f%%  total (%d of %d lines)\n", c.Percent(), c.CoveredLines, all)
}
