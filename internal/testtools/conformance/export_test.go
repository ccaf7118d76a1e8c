package conformance

import "testing"

// ParseConformanceForTest parses a result directory and console output as
// Conformance does.
func ParseConformanceForTest(t testing.TB, dir, output string) *ConformanceResult {
	t.Helper()
	r := &ConformanceResult{Scenarios: map[string]*ScenarioResult{}, NotScored: map[string]string{}, Output: output, OutputDir: dir}
	if err := r.readResults(dir); err != nil {
		t.Fatal(err)
	}
	r.parseOutput()
	return r
}
