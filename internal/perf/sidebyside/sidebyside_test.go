//go:build linux

package sidebyside

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/perf/load"
)

// TestMain lets Run start this test binary as the upstream and the proxy,
// as cmd/sidebyside does with itself.
func TestMain(m *testing.M) {
	if hidden, err := Hidden(os.Args[1:]); hidden {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	rest := " S 1 2 3 4 5 6 7 8 9 10 %s %s 0 0 20 0 12 0 100 0 0"
	cases := map[string]struct {
		line string
		want time.Duration
		err  string
	}{
		"plain":            {"42 (mcpgate)" + strings.ReplaceAll(strings.Replace(rest, "%s", "150", 1), "%s", "50"), 2 * time.Second, ""},
		"name with parens": {"42 (a) b (c) d)" + strings.ReplaceAll(strings.Replace(rest, "%s", "3", 1), "%s", "4"), 70 * time.Millisecond, ""},
		"no name":          {"42 mcpgate S 1 2", 0, "without ')'"},
		"short":            {"42 (x) S 1 2 3", 0, "want ≥ 13"},
		"garbage ticks":    {"42 (x)" + strings.ReplaceAll(rest, "%s", "lots"), 0, "not a tick count"},
		"negative ticks":   {"42 (x)" + strings.ReplaceAll(rest, "%s", "-1"), 0, "not a tick count"},
		"empty":            {"", 0, "without ')'"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseStat(c.line)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("parseStat = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// TestCPUTimeOfSelf: this process's CPU time is readable and does not go
// backwards.
func TestCPUTimeOfSelf(t *testing.T) {
	t.Parallel()
	a, err := cpuTimeOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	b, err := cpuTimeOf(os.Getpid())
	if err != nil || b < a {
		t.Errorf("cpu time %v then %v, %v", a, b, err)
	}
	if _, err := cpuTimeOf(-1); err == nil {
		t.Error("cpu time of pid -1: no error")
	}
}

func measurement(target string, c int, p50, p99, tput float64, ok int, cpu map[string]time.Duration) Measurement {
	return Measurement{Target: target, Era: load.Version2025, Concurrency: c,
		Summary: &load.Summary{Calls: ok, OK: ok, Throughput: tput, Latency: load.Latency{P50: p50, P99: p99}}, CPU: cpu}
}

// TestRatios: the ratios are those of issue #14's target table, from
// medians of the rounds and CPU summed over them.
func TestRatios(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	r := &Report{Options: Options{Rounds: 1, Eras: []string{load.Version2025}, Concurrency: []int{1, 16}}, Runs: []Measurement{
		measurement("direct", 1, 1.0, 2.0, 1000, 100, nil),
		measurement("proxy", 1, 1.5, 3.0, 800, 100, map[string]time.Duration{"proxy": 50 * ms}),
		measurement("proxy", 1, 1.1, 2.5, 800, 100, map[string]time.Duration{"proxy": 50 * ms}),
		measurement("proxy", 1, 1.3, 2.8, 800, 100, map[string]time.Duration{"proxy": 50 * ms}),
		measurement("mcpgate", 1, 2.2, 5.0, 300, 100, map[string]time.Duration{"mcpgate": 100 * ms}),
		measurement("direct", 16, 1, 1, 4000, 100, nil),
		measurement("proxy", 16, 1, 1, 2000, 100, map[string]time.Duration{"proxy": 25 * ms}),
		measurement("mcpgate", 16, 1, 1, 1000, 100, map[string]time.Duration{"mcpgate": 100 * ms}),
	}}
	r.Runs[7].Summary.Calls, r.Runs[7].Summary.Errors = 103, map[string]int{"timeout": 1, "jsonrpc -32603": 2}
	var b bytes.Buffer
	r.Print(&b)
	for _, want := range []string{
		"errors of mcpgate, c=16, round 0: jsonrpc -32603 ×2 timeout ×1",
		"| mcpgate | 16 | 1000 | 1.000 | 1.000 | 0.000 | 1.000 | – | 3 |",
		"| added latency p50, c=1 | 4.00× (1.200 ÷ 0.300 ms) |", // (2.2-1)/(1.3-1): the proxy's median round
		"| added latency p99, c=1 | 3.75× (3.000 ÷ 0.800 ms) |", // (5-2)/(2.8-2)
		"| CPU per call of the hop, c=1 | 2.00× |",              // 1 ms ÷ (150 ms / 300 calls)
		"| CPU per call of the hop, c=16 | 4.00× |",
		"| throughput, c=16 | 0.50× |",
		"| proxy | 1 | 800 | 1.300 | 2.800 | 0.000 | 0.500 | – | 0 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	r.Runs[1].Summary.Latency.P50, r.Runs[2].Summary.Latency.P50, r.Runs[3].Summary.Latency.P50 = 0.9, 0.9, 0.9
	b.Reset()
	r.Print(&b)
	if !strings.Contains(b.String(), "| added latency p50, c=1 | n/a") {
		t.Errorf("a proxy faster than direct gives a ratio:\n%s", b.String())
	}
	// mcpgate faster than direct: no ratio, which would be negative and
	// read as a pass.
	r.Runs[4].Summary.Latency.P50 = 0.8
	b.Reset()
	r.Print(&b)
	if !strings.Contains(b.String(), "| added latency p50, c=1 | n/a (mcpgate -0.200 ms against direct)") {
		t.Errorf("mcpgate faster than direct gives a ratio:\n%s", b.String())
	}
}

// TestHiddenRefuses: the hidden subcommands take only what Run passes.
func TestHiddenRefuses(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"serve"}, {hiddenProxy}, {hiddenProxy, "a", "b"}} {
		if hidden, err := Hidden(args); hidden || err != nil {
			t.Errorf("Hidden(%q) = %v, %v", args, hidden, err)
		}
	}
	for _, target := range []string{"ftp://127.0.0.1:1", "127.0.0.1:1", "http://", "::"} {
		if err := ServeProxy(target, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "must be an http URL") {
			t.Errorf("ServeProxy(%q) = %v", target, err)
		}
	}
}

// TestRun runs the whole side by side briefly, with tracing when the
// collector is installed: every target takes its turns in rotation in both
// eras, every call succeeds, each hop's CPU is read, mcpgate logs its
// decisions and the collector receives its spans.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mcpgate and starts four processes")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "mcpgate")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/mcpgate").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	collector := filepath.Join(os.Getenv("MCPGATE_TOOLS_BIN"), "otelcol-mcpgate")
	_, err := os.Stat(collector)
	tracing := os.Getenv("MCPGATE_TOOLS_BIN") != "" && err == nil
	if !tracing && os.Getenv("MCPGATE_E2E_REQUIRED") != "" {
		t.Fatalf("otelcol-mcpgate not in $MCPGATE_TOOLS_BIN (scripts/install-tools.sh)")
	}
	rep, err := Run(t.Context(), Options{MCPGateBin: bin, CollectorBin: collector, Tracing: tracing, Groups: 1000,
		Duration: 300 * time.Millisecond, Rounds: 2, Concurrency: []int{1, 2}, Dir: dir})
	if err != nil {
		servers, _ := os.ReadFile(filepath.Join(dir, "servers.log"))
		t.Fatalf("%v\nservers.log:\n%s", err, servers)
	}
	if len(rep.Runs) != 2*2*2*3 {
		t.Fatalf("%d runs, want 24", len(rep.Runs))
	}
	want := []string{"direct", "proxy", "mcpgate", "proxy", "mcpgate", "direct"}
	mcpgateCalls := 0
	for i, m := range rep.Runs {
		if m.Target != want[i%6] {
			t.Errorf("run %d: %s, want %s (turns A B C, B C A)", i, m.Target, want[i%6])
		}
		if m.Summary.OK == 0 || m.Summary.Calls != m.Summary.OK {
			t.Errorf("run %d (%s %s c=%d): %d calls, %d ok, errors %v", i, m.Target, m.Era, m.Concurrency, m.Summary.Calls, m.Summary.OK, m.Summary.Errors)
		}
		if hop, ok := hop[m.Target]; ok && m.CPU[hop] <= 0 {
			t.Errorf("run %d (%s): no CPU time read for %s", i, m.Target, hop)
		}
		if m.Target == "mcpgate" {
			mcpgateCalls += m.Summary.OK
		}
	}
	// Every call is logged; the first call of each key is evaluated, the
	// others of the echo tool (a decision that reads no argument) come
	// from the cache.
	if rep.Decisions < mcpgateCalls || rep.CallEvalP50 <= 0 || rep.CachedCalls == 0 {
		t.Errorf("%d decisions logged (%d cached, evaluated p50 %v) for %d calls through mcpgate",
			rep.Decisions, rep.CachedCalls, rep.CallEvalP50, mcpgateCalls)
	}
	// Each call's three spans (HTTP, MCP, upstream; the token verified
	// before and the decision cached are attributes of the first two).
	if tracing && rep.Spans < 3*mcpgateCalls {
		t.Errorf("collector received %d spans for %d calls, want 3 a call", rep.Spans, mcpgateCalls)
	}
	var b bytes.Buffer
	rep.Print(&b)
	for _, s := range []string{"| mcpgate | 2 |", "| throughput, c=2 |", load.Version2026} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}
}

// TestSoak runs a short soak with tracing when the collector is installed:
// every call succeeds and is logged as a decision, the gateway's sessions,
// goroutines and memory are sampled, and its goroutines come back once
// the sessions close. A few seconds cannot judge whether memory stays flat
// (TestSoakChecks covers that judgement); the real soak runs for minutes.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mcpgate and starts five processes")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "mcpgate")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/mcpgate").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	collector := CollectorBin("")
	_, err := os.Stat(collector)
	tracing := err == nil
	if !tracing && os.Getenv("MCPGATE_E2E_REQUIRED") != "" {
		t.Fatalf("otelcol-mcpgate not at %s (scripts/install-tools.sh)", collector)
	}
	o := SoakOptions{MCPGateBin: bin, CollectorBin: collector, Tracing: tracing, Sessions: 12, Users: 3,
		Duration: 2 * time.Second, SampleEvery: 200 * time.Millisecond, Dir: dir}
	rep, err := Soak(t.Context(), o)
	if err != nil {
		servers, _ := os.ReadFile(filepath.Join(dir, "servers.log"))
		t.Fatalf("%v\nservers.log:\n%s", err, servers)
	}
	for _, f := range rep.Failures {
		if !strings.Contains(f, " grew: ") {
			t.Errorf("soak failed: %s", f)
		}
	}
	if s := rep.Summary; s.OK == 0 || s.Sessions != 12 || s.Tool != "soak1__noop,soak2__noop,soak3__noop" {
		t.Errorf("summary %+v: want calls over 12 sessions to the three upstreams' tools", s)
	}
	if len(rep.Samples) < 3 || rep.Before.Sessions != 0 || rep.AfterClose.Sessions != 0 {
		t.Fatalf("samples %+v, before %+v, after %+v: want several, and no session before or after", rep.Samples, rep.Before, rep.AfterClose)
	}
	for _, s := range rep.Samples {
		if s.Sessions != 12 || s.Goroutines <= rep.Before.Goroutines || s.HeapLive <= 0 || s.RSS <= 0 {
			t.Errorf("sample %+v: want 12 sessions open and more goroutines than before the load (%d)", s, rep.Before.Goroutines)
		}
	}
	var b bytes.Buffer
	rep.Print(&b)
	if !strings.Contains(b.String(), fmt.Sprintf("| %d | %d | 0 |", rep.Summary.Calls, rep.Summary.OK)) {
		t.Errorf("report:\n%s", b.String())
	}
}

// TestSoakChecks: the verdict names each broken promise — a failed call, a
// call without its decision, too few spans, goroutines left after the
// sessions closed, goroutines or live heap growing — and holds otherwise.
func TestSoakChecks(t *testing.T) {
	t.Parallel()
	steady := func(goroutines int, heap int64) []Sample {
		var out []Sample
		for i := range 10 {
			out = append(out, Sample{At: time.Duration(i+1) * 10 * time.Second, Sessions: 100, Goroutines: goroutines, HeapLive: heap})
		}
		return out
	}
	good := func() *SoakReport {
		return &SoakReport{
			Options:       SoakOptions{Duration: 100 * time.Second, Tracing: true},
			Summary:       &load.Summary{Calls: 1000, OK: 1000},
			Before:        Sample{Goroutines: 30},
			AfterClose:    Sample{Goroutines: 45},
			Samples:       steady(900, 50<<20),
			CallDecisions: 1000, Spans: 2500, SpansExported: 2500, SpansDropped: 700,
		}
	}
	cases := map[string]struct {
		mutate func(*SoakReport)
		want   string
	}{
		"held":             {func(*SoakReport) {}, ""},
		"a call failed":    {func(r *SoakReport) { r.Summary.OK = 999 }, "1 of 1000 calls failed"},
		"no call":          {func(r *SoakReport) { r.Summary.Calls, r.Summary.OK, r.CallDecisions = 0, 0, 0 }, "no call was made"},
		"decision missing": {func(r *SoakReport) { r.CallDecisions = 999 }, "999 call decisions for 1000 calls"},
		"span lost":        {func(r *SoakReport) { r.Spans = 2499 }, "received 2499 spans, mcpgate exported 2500"},
		"spans not counted": {func(r *SoakReport) { r.Spans, r.SpansExported, r.SpansDropped = 2000, 2000, 999 },
			"exported 2000 spans and dropped 999 for 1000 calls"},
		"leak": {func(r *SoakReport) { r.AfterClose.Goroutines = 51 }, "51 goroutines after every session closed"},
		"goroutines grow": {func(r *SoakReport) {
			for i := range r.Samples {
				r.Samples[i].Goroutines = 900 + 100*i
			}
		}, "goroutines grew"},
		"heap grows": {func(r *SoakReport) {
			for i := range r.Samples {
				r.Samples[i].HeapLive = int64(50+10*i) << 20
			}
		}, "live heap grew"},
		"too few samples": {func(r *SoakReport) { r.Samples = r.Samples[:2] }, "too few to judge"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := good()
			c.mutate(r)
			r.check()
			if c.want == "" {
				if len(r.Failures) != 0 {
					t.Errorf("failures %q, want none", r.Failures)
				}
				return
			}
			if len(r.Failures) != 1 || !strings.Contains(r.Failures[0], c.want) {
				t.Errorf("failures %q, want exactly one with %q", r.Failures, c.want)
			}
		})
	}
}

// TestParseSpanCounts adds up the batch span processor's spans exported and
// dropped, over its series, and says when the SDK does not count them.
func TestParseSpanCounts(t *testing.T) {
	t.Parallel()
	body := `# TYPE otel_sdk_processor_span_processed_total counter
otel_sdk_processor_span_processed_total{otel_component_name="batching_span_processor/0",otel_component_type="batching_span_processor",otel_scope_name="x"} 2500
otel_sdk_processor_span_processed_total{error_type="queue_full",otel_component_name="batching_span_processor/0",otel_component_type="batching_span_processor"} 700
otel_sdk_processor_span_processed_total_other 5
`
	families, err := parseExposition(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	q, d, err := spanCountsOf(families)
	if err != nil || q != 2500 || d != 700 {
		t.Errorf("spanCountsOf = %d, %d, %v; want 2500, 700", q, d, err)
	}
	families, _ = parseExposition(strings.NewReader("go_goroutines 3\n"))
	if _, _, err := spanCountsOf(families); err == nil || !strings.Contains(err.Error(), "OTEL_GO_X_OBSERVABILITY") {
		t.Errorf("no span counts: err = %v", err)
	}
}

// TestParseMetrics reads the gauges of a sample from Prometheus text,
// labels, exponents and untyped series included, names one that is
// missing, and refuses what is not the text format.
func TestParseMetrics(t *testing.T) {
	t.Parallel()
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 1234
go_gc_heap_live_bytes 1.2345678e+07
go_memstats_heap_inuse_bytes 2.5e+07
process_resident_memory_bytes 9.8e+07
# TYPE mcpgate_sessions_active gauge
mcpgate_sessions_active{otel_scope_name="mcpgate"} 1000
mcpgate_sessions_restored_total{outcome="ok"} 3
`
	parse := func(text string) (Sample, error) {
		families, err := parseExposition(strings.NewReader(text))
		if err != nil {
			return Sample{}, err
		}
		return sampleOf(families)
	}
	s, err := parse(text)
	want := Sample{Sessions: 1000, Goroutines: 1234, HeapLive: 12345678, HeapInuse: 25e6, RSS: 98e6}
	if err != nil || s != want {
		t.Errorf("sampleOf = %+v, %v; want %+v", s, err, want)
	}
	_, err = parse(strings.ReplaceAll(text, "go_goroutines 1234\n", ""))
	if err == nil || !strings.Contains(err.Error(), "have no go_goroutines") {
		t.Errorf("missing gauge: err = %v", err)
	}
	if _, err = parse(text + "go_memstats_heap_inuse_bytes lots\n"); err == nil {
		t.Error("a value that is not a number was read")
	}
}
