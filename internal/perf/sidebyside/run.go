//go:build linux

package sidebyside

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/internal/perf/load"
)

// Options configures a side-by-side run.
type Options struct {
	// MCPGateBin is the mcpgate binary to measure. Required.
	MCPGateBin string
	// CollectorBin is the OpenTelemetry Collector (otelcol-mcpgate of
	// scripts/install-tools.sh). Required when Tracing.
	CollectorBin string
	// CPUProfile, if set, is where mcpgate writes a CPU profile of its
	// whole run (MCPGATE_CPUPROFILE).
	CPUProfile string
	// GOGC, if set, is the GOGC environment variable of mcpgate (which
	// otherwise chooses its own; cmd/mcpgate runtime.go).
	GOGC string
	// Tracing exports every span of mcpgate over OTLP to the collector.
	Tracing bool
	// Groups is the number of generated groups in the policy data, beside
	// the demo data's.
	Groups int
	// Duration is the length of each measured run. Required.
	Duration time.Duration
	// Warmup is an unmeasured run before each measured one. If zero, none.
	Warmup time.Duration
	// Rounds is the number of turns each target takes per era and
	// concurrency; round r starts with target r mod 3. If zero, 1.
	Rounds int
	// Eras are the protocol versions to measure. If nil, both.
	Eras []string
	// Concurrency lists the concurrency levels. If nil, 1 and 16.
	Concurrency []int
	// Dir holds the configuration, the logs and the decision log. Required.
	Dir string
	// Progress, if set, gets a line per measured run.
	Progress io.Writer
}

// target is one of the three ways to the upstream.
type target struct {
	name, url, tool, token string
}

// servers are the measured processes.
type servers struct {
	upstream, proxy *proc
	gw              *gatewaySetup
}

func (s *servers) stop() {
	s.gw.stopIfSet()
	s.proxy.stop()
	s.upstream.stop()
}

func (g *gatewaySetup) stopIfSet() {
	if g != nil {
		g.stop()
	}
}

// Run starts the upstream, the proxy and mcpgate, measures them in turns
// and returns the results. Every process it started is stopped before it
// returns.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	if o.MCPGateBin == "" || o.Duration <= 0 || o.Dir == "" {
		return nil, errors.New("sidebyside: MCPGateBin, Duration and Dir are required")
	}
	log, err := os.Create(filepath.Join(o.Dir, "servers.log"))
	if err != nil {
		return nil, fmt.Errorf("sidebyside: %w", err)
	}
	defer log.Close()
	var s servers
	defer s.stop()
	if s.upstream, err = startAnnouncing("upstream", []string{hiddenUpstream}, log); err != nil {
		return nil, err
	}
	base := s.upstream.url[:len(s.upstream.url)-len("/mcp")]
	if s.proxy, err = startAnnouncing("proxy", []string{hiddenProxy, base}, log); err != nil {
		return nil, err
	}
	spec := gatewaySpec{upstreams: []upstream{{gatewayServer, s.upstream.url}}, users: []devidp.User{benchUser},
		sessionsPerUser: slices.Max(o.Concurrency)}
	if s.gw, err = startGateway(ctx, o, o.Dir, spec, log); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, log.Name())
	}
	targets := []target{
		{name: "direct", url: s.upstream.url, tool: NoopTool},
		{name: "proxy", url: s.proxy.url + "/mcp", tool: NoopTool},
		{name: "mcpgate", url: s.gw.url, tool: gatewayServer + "__" + NoopTool, token: s.gw.tokens[0]},
	}
	if err := preflight(ctx, o.Eras, targets); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, log.Name())
	}
	rep := &Report{Options: o}
	for _, era := range o.Eras {
		for _, c := range o.Concurrency {
			for r := range o.Rounds {
				for k := range targets {
					t := targets[(r+k)%len(targets)]
					m, err := measure(ctx, o, &s, t, era, c)
					if err != nil {
						return nil, err
					}
					m.Round = r + 1
					rep.Runs = append(rep.Runs, m)
					o.progress(m)
				}
			}
		}
	}
	// Stopped gracefully, mcpgate flushes its decision log and spans, and
	// the collector its last batch.
	s.gw.gw.stop()
	s.gw.collector.stop()
	rep.readDecisions(s.gw.decisionLog)
	rep.Spans = spansReceived(o.Dir)
	return rep, nil
}

// preflight makes one call per target and era, so that a misconfigured
// target fails the run at once instead of filling the table with errors.
func preflight(ctx context.Context, eras []string, targets []target) error {
	for _, era := range eras {
		for _, t := range targets {
			sum, err := load.Run(ctx, load.Config{URL: t.url, Token: t.token, ProtocolVersion: era, Tool: t.tool, Count: 1, Timeout: 10 * time.Second})
			if err == nil && sum.OK != 1 {
				err = fmt.Errorf("call failed: %v", sum.Errors)
			}
			if err != nil {
				return fmt.Errorf("sidebyside: preflight %s (%s, tool %s): %w", t.name, era, t.tool, err)
			}
		}
	}
	return nil
}

// measure runs the load once at t and reads the CPU time each server
// process spent during the measured calls.
func measure(ctx context.Context, o Options, s *servers, t target, era string, c int) (Measurement, error) {
	procs := map[string]*proc{"upstream": s.upstream, "proxy": s.proxy, "mcpgate": s.gw.gw, "collector": s.gw.collector}
	before, after := map[string]time.Duration{}, map[string]time.Duration{}
	var cpuErr error
	read := func(into map[string]time.Duration) {
		for name, p := range procs {
			d, err := p.cpuTime()
			into[name] = d
			cpuErr = errors.Join(cpuErr, err)
		}
	}
	sum, err := load.Run(ctx, load.Config{
		URL: t.url, Token: t.token, ProtocolVersion: era, Tool: t.tool,
		Sessions: c, Concurrency: c, Duration: o.Duration, Warmup: o.Warmup,
		OnMeasure: func(start bool) {
			if start {
				read(before)
			} else {
				read(after)
			}
		},
	})
	if err == nil {
		err = cpuErr
	}
	if err != nil {
		return Measurement{}, fmt.Errorf("sidebyside: %s (%s, c=%d): %w", t.name, era, c, err)
	}
	m := Measurement{Target: t.name, Era: era, Concurrency: c, Summary: sum, CPU: map[string]time.Duration{}}
	for name := range procs {
		m.CPU[name] = after[name] - before[name]
	}
	return m, nil
}

func (o Options) withDefaults() Options {
	if o.Rounds == 0 {
		o.Rounds = 1
	}
	if o.Eras == nil {
		o.Eras = []string{load.Version2025, load.Version2026}
	}
	if o.Concurrency == nil {
		o.Concurrency = []int{1, 16}
	}
	return o
}

func (o Options) progress(m Measurement) {
	if o.Progress == nil {
		return
	}
	fmt.Fprintf(o.Progress, "sidebyside: %s c=%-2d round %d %-8s %8.0f calls/s  p50 %6.3f ms  p99 %6.3f ms  errors %d\n",
		m.Era, m.Concurrency, m.Round, m.Target, m.Summary.Throughput, m.Summary.Latency.P50, m.Summary.Latency.P99, m.Summary.Calls-m.Summary.OK)
}
