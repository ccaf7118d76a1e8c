//go:build linux

package sidebyside

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate/internal/perf/load"
)

// Measurement is one measured run of one target.
type Measurement struct {
	Target      string
	Era         string
	Concurrency int
	Round       int
	Summary     *load.Summary
	// CPU is the CPU time each server process spent during the measured
	// calls: upstream, proxy, mcpgate and collector (zero when off).
	CPU map[string]time.Duration
}

// Report holds every run of a side-by-side measurement.
type Report struct {
	Options Options
	Runs    []Measurement
	// Decisions is the number of lines in mcpgate's decision log;
	// CachedCalls the call-phase lines served from the decision cache
	// (no evaluation); CallEvalP50 and CallEvalP90 are percentiles of the
	// other call-phase lines' evaluation times (eval_ns).
	Decisions, CachedCalls   int
	CallEvalP50, CallEvalP90 time.Duration
	evaluatedCalls           int
	// Spans is the number of spans the collector received.
	Spans int
}

// cell aggregates the rounds of one target at one era and concurrency:
// medians of the rounds' throughput and percentiles, CPU per call over all
// of them.
type cell struct {
	calls, errors int
	throughput    float64
	p50, p99      float64
	cpuPerCall    map[string]float64 // ms per successful call, by process
}

func (r *Report) cell(target, era string, c int) cell {
	var out cell
	var tput, p50, p99 []float64
	cpu := map[string]time.Duration{}
	ok := 0
	for _, m := range r.Runs {
		if m.Target != target || m.Era != era || m.Concurrency != c {
			continue
		}
		tput = append(tput, m.Summary.Throughput)
		p50 = append(p50, m.Summary.Latency.P50)
		p99 = append(p99, m.Summary.Latency.P99)
		out.calls += m.Summary.Calls
		out.errors += m.Summary.Calls - m.Summary.OK
		ok += m.Summary.OK
		for p, d := range m.CPU {
			cpu[p] += d
		}
	}
	out.throughput, out.p50, out.p99 = median(tput), median(p50), median(p99)
	out.cpuPerCall = map[string]float64{}
	if ok > 0 {
		for p, d := range cpu {
			out.cpuPerCall[p] = float64(d) / float64(time.Millisecond) / float64(ok)
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// hop names the process a target adds in front of the upstream.
var hop = map[string]string{"proxy": "proxy", "mcpgate": "mcpgate"}

// Print writes the tables and the ratios of issue #14's target table.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "side by side: %d round(s) × %v per target, warmup %v, %d generated groups\n", o.Rounds, o.Duration, o.Warmup, o.Groups)
	fmt.Fprintf(w, "decision log: %d decisions, %d calls served from the decision cache; evaluated calls p50 %v, p90 %v\n",
		r.Decisions, r.CachedCalls, r.CallEvalP50, r.CallEvalP90)
	fmt.Fprintf(w, "tracing: %s\n", r.tracing())
	fmt.Fprintln(w, "medians of the rounds; CPU per call = process CPU time (/proc) ÷ successful calls, in ms")
	for _, era := range o.Eras {
		fmt.Fprintf(w, "\n%s\n\n", era)
		fmt.Fprintln(w, "| target | c | calls/s | p50 ms | p99 ms | CPU/call upstream | CPU/call hop | CPU/call collector | errors |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for _, c := range o.Concurrency {
			for _, t := range []string{"direct", "proxy", "mcpgate"} {
				x := r.cell(t, era, c)
				hopCPU := "–"
				if p, ok := hop[t]; ok {
					hopCPU = fmt.Sprintf("%.3f", x.cpuPerCall[p])
				}
				coll := "–"
				if t == "mcpgate" && o.Tracing {
					coll = fmt.Sprintf("%.3f", x.cpuPerCall["collector"])
				}
				fmt.Fprintf(w, "| %s | %d | %.0f | %.3f | %.3f | %.3f | %s | %s | %d |\n",
					t, c, x.throughput, x.p50, x.p99, x.cpuPerCall["upstream"], hopCPU, coll, x.errors)
			}
		}
		r.printErrors(w, era)
		r.printRatios(w, era)
	}
}

// printErrors lists the kinds of failed calls, if any, by target.
func (r *Report) printErrors(w io.Writer, era string) {
	listed := false
	for _, m := range r.Runs {
		if m.Era != era || len(m.Summary.Errors) == 0 {
			continue
		}
		listed = true
		fmt.Fprintf(w, "\nerrors of %s, c=%d, round %d:", m.Target, m.Concurrency, m.Round)
		for _, k := range m.Summary.ErrorKinds() {
			fmt.Fprintf(w, " %s ×%d", k, m.Summary.Errors[k])
		}
	}
	if listed {
		fmt.Fprintln(w)
	}
}

// printRatios writes mcpgate ÷ the bare proxy for the targets:
// added latency at c=1 ((mcpgate − direct) ÷ (proxy − direct)), the hop's
// CPU per call, and throughput at the highest concurrency.
func (r *Report) printRatios(w io.Writer, era string) {
	o := r.Options
	fmt.Fprintf(w, "\n| ratio, mcpgate ÷ bare proxy (%s) | measured | must | aim |\n|---|---|---|---|\n", era)
	if slices.Contains(o.Concurrency, 1) {
		d, p, g := r.cell("direct", era, 1), r.cell("proxy", era, 1), r.cell("mcpgate", era, 1)
		fmt.Fprintf(w, "| added latency p50, c=1 | %s | ≤ 1.5× | ≤ 1.2× |\n", addedRatio(g.p50-d.p50, p.p50-d.p50))
		fmt.Fprintf(w, "| added latency p99, c=1 | %s | ≤ 2× | ≤ 1.5× |\n", addedRatio(g.p99-d.p99, p.p99-d.p99))
	}
	for _, c := range o.Concurrency {
		p, g := r.cell("proxy", era, c), r.cell("mcpgate", era, c)
		fmt.Fprintf(w, "| CPU per call of the hop, c=%d | %s | ≤ 1.8× | ≤ 1.3× |\n", c, ratio(g.cpuPerCall["mcpgate"], p.cpuPerCall["proxy"]))
	}
	top := slices.Max(o.Concurrency)
	p, g := r.cell("proxy", era, top), r.cell("mcpgate", era, top)
	fmt.Fprintf(w, "| throughput, c=%d | %s | ≥ 0.6× | ≥ 0.8× |\n", top, ratio(g.throughput, p.throughput))
}

// addedRatio formats mcpgate's added latency ÷ the proxy's (both in ms),
// with the two figures: a ratio of differences this small is only read
// beside them, and none is given when mcpgate measured no slower than the
// direct call (a negative ratio would read as a pass).
func addedRatio(a, b float64) string {
	if a <= 0 {
		return fmt.Sprintf("n/a (mcpgate %+.3f ms against direct)", a)
	}
	if b <= 0 {
		return ratio(a, b)
	}
	return fmt.Sprintf("%.2f× (%.3f ÷ %.3f ms)", a/b, a, b)
}

// ratio formats a ÷ b, or says why there is none.
func ratio(a, b float64) string {
	if b <= 0 {
		return "n/a (the proxy's figure is not above 0)"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func (r *Report) tracing() string {
	if r.Options.Tracing {
		calls := r.CachedCalls + r.evaluatedCalls
		if calls == 0 {
			return fmt.Sprintf("on, every span exported over OTLP to a local collector (%d spans received)", r.Spans)
		}
		return fmt.Sprintf("on, every span exported over OTLP to a local collector (%d spans received, %.1f per call through mcpgate)",
			r.Spans, float64(r.Spans)/float64(calls))
	}
	return "off"
}

// readDecisions reads mcpgate's decision log: the number of decisions, of
// call decisions served from the cache, and the evaluation times of the
// others (a cached line's eval_ns is the lookup, not an evaluation).
func (r *Report) readDecisions(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var evals []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		r.Decisions++
		var d struct {
			Phase  string `json:"phase"`
			EvalNS int64  `json:"eval_ns"`
			Cached bool   `json:"cached"`
		}
		switch {
		case json.Unmarshal(sc.Bytes(), &d) != nil || d.Phase != "call":
		case d.Cached:
			r.CachedCalls++
		default:
			evals = append(evals, time.Duration(d.EvalNS))
		}
	}
	r.evaluatedCalls = len(evals)
	if len(evals) > 0 {
		slices.Sort(evals)
		r.CallEvalP50 = load.Rank(evals, 0.5).Round(time.Microsecond)
		r.CallEvalP90 = load.Rank(evals, 0.9).Round(time.Microsecond)
	}
}
