//go:build linux

package sidebyside

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/internal/perf/load"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// SoakOptions configures a soak (issue #17): many sessions of several
// users calling tools of several upstreams through `mcpgate serve` for a
// long time, with the shipped policy library, the decision log and (by
// default) tracing on, while the gateway's goroutines and memory are
// sampled from its /metrics.
type SoakOptions struct {
	// MCPGateBin is the mcpgate binary to soak. Required.
	MCPGateBin string
	// CollectorBin is the OpenTelemetry Collector; required when Tracing.
	CollectorBin string
	// Tracing exports every span of mcpgate over OTLP to the collector.
	Tracing bool
	// Sessions is the number of concurrent client sessions, each with a
	// worker of its own. If zero, 1000.
	Sessions int
	// Users is the number of users the sessions sign in as, in turn. If
	// zero, 10.
	Users int
	// Upstreams is the number of upstream servers; every worker calls
	// their tools in turn. If zero, 3.
	Upstreams int
	// Era is the protocol version of the sessions. If empty, 2025-11-25.
	Era string
	// Duration is the length of the load. Required.
	Duration time.Duration
	// Rate is the calls per second over all sessions; zero is a closed
	// loop (every session always has a call in flight).
	Rate float64
	// PolicyTimeout is the gateway's policy.timeout; if zero, its default
	// (1 s). A policy evaluation starved of CPU by the rest of the burst
	// times out, and denies: at 100 ms, a dozen calls of the cold start
	// on two CPUs shared with the load generator.
	PolicyTimeout time.Duration
	// SampleEvery is the interval between samples. If zero, 10 s.
	SampleEvery time.Duration
	// Settle bounds the wait, after the sessions closed, for the
	// gateway's goroutines to come back to their number before the load.
	// The load closes its idle connections as it ends, and the upstreams
	// theirs after 5 s idle (upstreamIdleTimeout). If zero, 60 s.
	Settle time.Duration
	// Dir holds the configuration, the logs and the decision log. Required.
	Dir string
	// Progress, if set, gets a line per sample.
	Progress io.Writer
}

// The soak's verdict thresholds, documented in docs/reliability.md.
const (
	// soakGrowth bounds how much more goroutines or live heap the second half
	// of the steady run may reach than its first half.
	soakGrowth = 1.25
	// soakWarm is the share of the run before the steady part, in which
	// sessions connect, caches fill and the heap finds its size.
	soakWarm = 0.2
	// soakGoroutineSlack is how many goroutines above the number before
	// the load may remain once every session has closed (timers and
	// connections the HTTP server is still closing).
	soakGoroutineSlack = 20
	// bspScheduleDelay is the batch span processor's default schedule
	// delay, within which it exports what its queue holds.
	bspScheduleDelay = 5 * time.Second
)

// Sample is the gateway's state at one moment, read from its /metrics.
type Sample struct {
	// At is the time since the load started; before it, negative.
	At         time.Duration `json:"at"`
	Sessions   int           `json:"sessions"` // client sessions open (mcpgate_sessions_active)
	Goroutines int           `json:"goroutines"`
	HeapLive   int64         `json:"heap_live_bytes"` // live after the last collection
	HeapInuse  int64         `json:"heap_inuse_bytes"`
	RSS        int64         `json:"rss_bytes"`
}

// SoakReport is the outcome of a soak.
type SoakReport struct {
	Options SoakOptions   `json:"-"`
	Summary *load.Summary `json:"summary"`
	// Before is sampled with the gateway ready and no session open;
	// AfterClose once every session has closed and the gateway settled.
	Before     Sample   `json:"before"`
	AfterClose Sample   `json:"after_close"`
	Samples    []Sample `json:"samples"`
	// CallDecisions counts the decision log's lines of phase call.
	CallDecisions int `json:"call_decisions"`
	// Spans is what the collector received (zero without tracing).
	Spans int `json:"spans"`
	// SpansExported and SpansDropped are what mcpgate's batch span
	// processor handed to its exporter and dropped because its queue was
	// full, from otel_sdk_processor_span_processed_total
	// (OTEL_GO_X_OBSERVABILITY), read once the last batch was exported.
	SpansExported int `json:"spans_exported"`
	SpansDropped  int `json:"spans_dropped"`
	// Failures lists every check the soak failed; empty when it held.
	Failures []string `json:"failures"`
}

func (o SoakOptions) withDefaults() SoakOptions {
	if o.Sessions == 0 {
		o.Sessions = 1000
	}
	if o.Users == 0 {
		o.Users = 10
	}
	if o.Upstreams == 0 {
		o.Upstreams = 3
	}
	if o.Era == "" {
		o.Era = load.Version2025
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = 10 * time.Second
	}
	if o.Settle == 0 {
		o.Settle = 60 * time.Second
	}
	return o
}

// Soak starts the upstreams, the collector and mcpgate, runs the load,
// checks what it promises (no unexpected error, a decision logged per
// call, goroutines and memory flat, goroutines back after the sessions
// close) and returns the report; a failed check is in its Failures, not an
// error. Every process it started is stopped before it returns.
func Soak(ctx context.Context, o SoakOptions) (*SoakReport, error) {
	o = o.withDefaults()
	if o.MCPGateBin == "" || o.Duration <= 0 || o.Dir == "" {
		return nil, errors.New("soak: MCPGateBin, Duration and Dir are required")
	}
	if o.Sessions < 1 || o.Users < 1 || o.Users > o.Sessions || o.Upstreams < 1 || o.Rate < 0 || o.SampleEvery < 0 || o.Settle < 0 {
		return nil, errors.New("soak: sessions, users (at most sessions) and upstreams must be positive; rate, sample interval and settle not negative")
	}
	log, err := os.Create(filepath.Join(o.Dir, "servers.log"))
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	defer log.Close()
	var upstreams []*proc
	var gw *gatewaySetup
	defer func() {
		gw.stopIfSet()
		for _, u := range upstreams {
			u.stop()
		}
	}()
	spec := gatewaySpec{sessionsPerUser: (o.Sessions + o.Users - 1) / o.Users, metrics: true, policyTimeout: o.PolicyTimeout,
		env: []string{"OTEL_GO_X_OBSERVABILITY=true"}} // the SDK counts the spans it drops
	var tools []string
	for i := range o.Upstreams {
		p, err := startAnnouncing(fmt.Sprintf("upstream %d", i+1), []string{hiddenUpstream}, log)
		if err != nil {
			return nil, err
		}
		upstreams = append(upstreams, p)
		name := fmt.Sprintf("soak%d", i+1)
		spec.upstreams = append(spec.upstreams, upstream{name, p.url})
		tools = append(tools, name+"__"+NoopTool)
	}
	for i := range o.Users {
		spec.users = append(spec.users, devidp.User{Name: fmt.Sprintf("soak-%03d", i+1),
			Email: fmt.Sprintf("soak-%03d@example.com", i+1), Groups: []string{"engineering"}})
	}
	gwOpts := Options{MCPGateBin: o.MCPGateBin, CollectorBin: o.CollectorBin, Tracing: o.Tracing}
	if gw, err = startGateway(ctx, gwOpts, o.Dir, spec, log); err != nil {
		return nil, fmt.Errorf("soak: %w (log: %s)", err, log.Name())
	}
	metrics := "http://" + gw.addr + "/metrics"
	rep := &SoakReport{Options: o}
	if rep.Before, err = sample(ctx, metrics); err != nil {
		return nil, err
	}
	rep.Before.At = -1

	var start time.Time
	sampler := newSampler(ctx, metrics, o.SampleEvery, o.Progress)
	sum, err := load.Run(ctx, load.Config{
		URL: gw.url, Tokens: gw.tokens, ProtocolVersion: o.Era, Tools: tools,
		Sessions: o.Sessions, Concurrency: o.Sessions, Duration: o.Duration, Rate: o.Rate,
		OnMeasure: func(begin bool) {
			if begin {
				start = time.Now()
				sampler.start(start)
			} else {
				sampler.stop()
			}
		},
	})
	if err != nil {
		sampler.stop()
		return nil, fmt.Errorf("soak: %w (log: %s)", err, log.Name())
	}
	closed := time.Now() // the sessions too: Run closes them before it returns
	rep.Summary, rep.Samples = sum, sampler.samples
	if sampler.err != nil {
		rep.Failures = append(rep.Failures, fmt.Sprintf("sampling the gateway's metrics: %v", sampler.err))
	}
	// load.Run closed the sessions; the gateway's goroutines should come
	// back to their number before the load.
	deadline := time.Now().Add(o.Settle)
	for {
		s, err := sample(ctx, metrics)
		if err != nil {
			return nil, err
		}
		s.At = time.Since(start)
		rep.AfterClose = s
		if s.Goroutines <= rep.Before.Goroutines+soakGoroutineSlack || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if o.Tracing {
		// The batch processor exports what is left in its queue within
		// its schedule delay (OTEL_BSP_SCHEDULE_DELAY, 5 s): no span is
		// made once the sessions have closed, so then every span is
		// counted.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(closed.Add(bspScheduleDelay + time.Second))):
		}
		if rep.SpansExported, rep.SpansDropped, err = spanCounts(ctx, metrics); err != nil {
			rep.Failures = append(rep.Failures, err.Error())
		}
	}
	// Stopped gracefully, mcpgate flushes its decision log and spans, and
	// the collector its last batch.
	gw.gw.stop()
	gw.collector.stop()
	if rep.CallDecisions, err = callDecisions(gw.decisionLog); err != nil {
		rep.Failures = append(rep.Failures, err.Error())
	}
	if o.Tracing {
		rep.Spans = spansReceived(o.Dir)
	}
	rep.check()
	return rep, nil
}

// check fills Failures.
func (r *SoakReport) check() {
	s := r.Summary
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if s.Calls != s.OK || s.Unsent > 0 {
		fail("%d of %d calls failed (%v), %d not sent", s.Calls-s.OK, s.Calls, s.Errors, s.Unsent)
	}
	if s.Calls == 0 {
		fail("no call was made")
	}
	if r.CallDecisions != s.Calls {
		fail("the decision log has %d call decisions for %d calls", r.CallDecisions, s.Calls)
	}
	// Spans: every span mcpgate exported reaches the collector, and the
	// exported and the dropped (counted, never silent) make 3 a call at
	// least.
	if r.Options.Tracing && r.Spans != r.SpansExported {
		fail("the collector received %d spans, mcpgate exported %d", r.Spans, r.SpansExported)
	}
	if r.Options.Tracing && r.SpansExported+r.SpansDropped < 3*s.Calls {
		fail("mcpgate exported %d spans and dropped %d for %d calls, want at least 3 a call", r.SpansExported, r.SpansDropped, s.Calls)
	}
	if g := r.AfterClose.Goroutines; g > r.Before.Goroutines+soakGoroutineSlack {
		fail("%d goroutines after every session closed, %d before the load (slack %d): a leak", g, r.Before.Goroutines, soakGoroutineSlack)
	}
	first, second := r.steadyHalves()
	if len(first) == 0 || len(second) == 0 {
		fail("%d samples: too few to judge whether memory and goroutines stay flat (raise the duration or sample more often)", len(r.Samples))
		return
	}
	type series struct {
		name string
		of   func(Sample) float64
	}
	for _, m := range []series{
		{"goroutines", func(s Sample) float64 { return float64(s.Goroutines) }},
		{"live heap", func(s Sample) float64 { return float64(s.HeapLive) }},
	} {
		a, b := peak(first, m.of), peak(second, m.of)
		if b > soakGrowth*a {
			fail("%s grew: peak %.0f in the second half of the steady run, %.0f in the first (bound ×%.2f)", m.name, b, a, soakGrowth)
		}
	}
}

// steadyHalves splits the samples after the warm share of the run into
// two halves.
func (r *SoakReport) steadyHalves() (first, second []Sample) {
	var steady []Sample
	for _, s := range r.Samples {
		if s.At >= time.Duration(soakWarm*float64(r.Options.Duration)) {
			steady = append(steady, s)
		}
	}
	return steady[:len(steady)/2], steady[len(steady)/2:]
}

func peak(samples []Sample, of func(Sample) float64) float64 {
	m := 0.0
	for _, s := range samples {
		m = max(m, of(s))
	}
	return m
}

// sampler scrapes the gateway's metrics every interval between start and
// stop.
type sampler struct {
	ctx      context.Context
	url      string
	every    time.Duration
	progress io.Writer
	quit     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	samples  []Sample // written by the sampling goroutine, read after stop
	err      error    // the first scrape error
}

func newSampler(ctx context.Context, url string, every time.Duration, progress io.Writer) *sampler {
	return &sampler{ctx: ctx, url: url, every: every, progress: progress, quit: make(chan struct{})}
}

func (s *sampler) start(t0 time.Time) {
	s.wg.Go(func() {
		tick := time.NewTicker(s.every)
		defer tick.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-tick.C:
			}
			smp, err := sample(s.ctx, s.url)
			if err != nil {
				if s.err == nil {
					s.err = err
				}
				continue
			}
			smp.At = time.Since(t0)
			s.samples = append(s.samples, smp)
			if s.progress != nil {
				fmt.Fprintf(s.progress, "soak: %5.0fs  sessions %5d  goroutines %6d  live heap %7.1f MiB  heap in use %7.1f MiB  rss %7.1f MiB\n",
					smp.At.Seconds(), smp.Sessions, smp.Goroutines, mib(smp.HeapLive), mib(smp.HeapInuse), mib(smp.RSS))
			}
		}
	})
}

func (s *sampler) stop() {
	s.once.Do(func() { close(s.quit) })
	s.wg.Wait()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// scrape reads the gateway's Prometheus metrics.
func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("soak: scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("soak: scrape %s: %s", url, resp.Status)
	}
	families, err := parseExposition(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("soak: scrape %s: %w", url, err)
	}
	return families, nil
}

func parseExposition(r io.Reader) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(r)
}

// sample reads the gateway's sessions, goroutines, heap and resident
// memory from its metrics.
func sample(ctx context.Context, url string) (Sample, error) {
	families, err := scrape(ctx, url)
	if err != nil {
		return Sample{}, err
	}
	return sampleOf(families)
}

// sampleOf reads the five gauges of a sample; a gauge missing is an error.
func sampleOf(families map[string]*dto.MetricFamily) (Sample, error) {
	var errs []error
	gauge := func(name string) float64 {
		f := families[name]
		if f == nil || len(f.GetMetric()) == 0 {
			errs = append(errs, fmt.Errorf("soak: the gateway's metrics have no %s (is the metrics exporter prometheus?)", name))
			return 0
		}
		return value(f.GetMetric()[0])
	}
	s := Sample{
		Sessions:   int(gauge("mcpgate_sessions_active")),
		Goroutines: int(gauge("go_goroutines")),
		HeapLive:   int64(gauge("go_gc_heap_live_bytes")),
		HeapInuse:  int64(gauge("go_memstats_heap_inuse_bytes")),
		RSS:        int64(gauge("process_resident_memory_bytes")),
	}
	return s, errors.Join(errs...)
}

// value is a metric's value, whatever its type says.
func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// spanCounts reads how many spans mcpgate's batch span processor handed
// to its exporter and dropped (error_type="queue_full").
func spanCounts(ctx context.Context, url string) (exported, dropped int, err error) {
	families, err := scrape(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	return spanCountsOf(families)
}

func spanCountsOf(families map[string]*dto.MetricFamily) (exported, dropped int, err error) {
	const name = "otel_sdk_processor_span_processed_total"
	f := families[name]
	if f == nil {
		return 0, 0, fmt.Errorf("soak: the gateway's metrics have no %s (OTEL_GO_X_OBSERVABILITY=true and the global meter provider set?)", name)
	}
	for _, m := range f.GetMetric() {
		queueFull := false
		for _, l := range m.GetLabel() {
			queueFull = queueFull || l.GetName() == "error_type" && l.GetValue() == "queue_full"
		}
		if queueFull {
			dropped += int(value(m))
		} else {
			exported += int(value(m))
		}
	}
	return exported, dropped, nil
}

// callDecisions counts the decision log's lines of phase call; a line that
// is not a decision is an error (the log must hold nothing else).
func callDecisions(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("decision log: %w", err)
	}
	defer f.Close()
	n, line := 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line++
		var d struct {
			Phase string `json:"phase"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil || d.Phase == "" {
			return n, fmt.Errorf("decision log %s:%d: not a decision", path, line)
		}
		if d.Phase == "call" {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("decision log %s: %w", path, err)
	}
	return n, nil
}

// Print writes the report as markdown: the load, the samples (at most
// every minute, and the first and last), the checks.
func (r *SoakReport) Print(w io.Writer) {
	o, s := r.Options, r.Summary
	mode := "closed loop"
	if o.Rate > 0 {
		mode = fmt.Sprintf("%.0f calls/s", o.Rate)
	}
	timeout := "default"
	if o.PolicyTimeout > 0 {
		timeout = o.PolicyTimeout.String()
	}
	fmt.Fprintf(w, "## Soak: %d sessions of %d users, %d upstreams, %s, %v, %s, tracing %v, policy.timeout %s\n\n",
		o.Sessions, o.Users, o.Upstreams, o.Era, o.Duration, mode, o.Tracing, timeout)
	fmt.Fprintf(w, "| calls | ok | errors | throughput | p50 | p99 | max | call decisions logged | spans received | spans dropped (queue full) |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| %d | %d | %d | %.0f/s | %.2f ms | %.2f ms | %.2f ms | %d | %d | %d |\n\n",
		s.Calls, s.OK, s.Calls-s.OK, s.Throughput, s.Latency.P50, s.Latency.P99, s.Latency.Max, r.CallDecisions, r.Spans, r.SpansDropped)
	fmt.Fprintf(w, "| when | sessions | goroutines | live heap | heap in use | resident |\n|---|---|---|---|---|---|\n")
	row := func(when string, x Sample) {
		fmt.Fprintf(w, "| %s | %d | %d | %.1f MiB | %.1f MiB | %.1f MiB |\n", when, x.Sessions, x.Goroutines, mib(x.HeapLive), mib(x.HeapInuse), mib(x.RSS))
	}
	row("before the load", r.Before)
	last := time.Duration(-1)
	for i, x := range r.Samples {
		if i == 0 || i == len(r.Samples)-1 || x.At-last >= time.Minute {
			row(fmt.Sprintf("%.0f s", x.At.Seconds()), x)
			last = x.At
		}
	}
	row(fmt.Sprintf("sessions closed, %.0f s later", (r.AfterClose.At-r.Options.Duration).Seconds()), r.AfterClose)
	fmt.Fprintln(w)
	if len(r.Failures) == 0 {
		fmt.Fprintf(w, "Held: no failed call, a decision logged per call, goroutines and live heap flat (second half of the steady run within ×%.2f of the first), goroutines back within %d of their number before the load", soakGrowth, soakGoroutineSlack)
		if o.Tracing {
			fmt.Fprintf(w, ", every span exported received (%d dropped by the batch processor's full queue, counted)", r.SpansDropped)
		}
		fmt.Fprintln(w, ".")
		return
	}
	fmt.Fprintln(w, "FAILED:")
	for _, f := range r.Failures {
		fmt.Fprintf(w, "- %s\n", f)
	}
}
