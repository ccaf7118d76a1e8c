//go:build linux

// Command soak holds mcpgate under load for a long time and checks that it
// keeps working and loses nothing (issue #17): many client sessions of
// several users call tools of several upstreams through `mcpgate serve`
// with sign-in, the shipped policy library, the decision log and tracing to
// a local OpenTelemetry Collector, while the gateway's goroutines and
// memory are sampled from its /metrics. It prints the samples and the
// verdict: no failed call, a decision logged per call, goroutines and heap
// flat, goroutines back once the sessions close.
//
//	go run ./cmd/soak                                   # 1000 sessions, 10 users, 3 upstreams, 10 min
//	go run ./cmd/soak --sessions 50 --duration 30s      # smoke
//
// It builds mcpgate from the module it runs in (or uses --mcpgate). Every
// process it starts is killed when it ends. Exit codes: 0 held, 1 a check
// failed or the soak could not run, 2 usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpgate/mcpgate/internal/perf/load"
	"github.com/mcpgate/mcpgate/internal/perf/sidebyside"
)

func main() { sidebyside.Main("soak", run) }

type flags struct {
	opts      sidebyside.SoakOptions
	repo      string
	keep      bool
	collector string
	jsonOut   string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "soak: %v\n", err)
		return 2
	}
	dir, done, err := sidebyside.Workspace(ctx, "soak", f.repo, &f.opts.MCPGateBin, f.keep, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "soak: %v\n", err)
		return 1
	}
	defer done()
	f.opts.Dir = dir
	f.opts.Progress = stderr
	rep, err := sidebyside.Soak(ctx, f.opts)
	if err != nil {
		fmt.Fprintf(stderr, "soak: %v\n", err)
		return 1
	}
	rep.Print(stdout)
	if f.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(f.jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(stderr, "soak: --json: %v\n", err)
			return 1
		}
	}
	if len(rep.Failures) > 0 {
		return 1
	}
	return 0
}

func parse(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	var rate string
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&f.opts.Sessions, "sessions", 1000, "concurrent client sessions, each with a worker")
	fs.IntVar(&f.opts.Users, "users", 10, "users the sessions sign in as, in turn")
	fs.IntVar(&f.opts.Upstreams, "upstreams", 3, "upstream servers, whose tools every worker calls in turn")
	fs.StringVar(&f.opts.Era, "era", load.Version2025, "protocol version: "+load.Version2025+" (sessions) or "+load.Version2026+" (stateless)")
	fs.DurationVar(&f.opts.Duration, "duration", 10*time.Minute, "length of the load")
	fs.StringVar(&rate, "rate", "", "calls per second over all sessions, e.g. 500/s; empty: closed loop")
	fs.DurationVar(&f.opts.PolicyTimeout, "policy-timeout", 0, "policy.timeout of mcpgate (default: mcpgate's, 1s)")
	fs.DurationVar(&f.opts.SampleEvery, "sample", 10*time.Second, "interval between samples of the gateway's goroutines and memory")
	fs.BoolVar(&f.opts.Tracing, "tracing", true, "mcpgate exports every span over OTLP to a local collector")
	fs.StringVar(&f.opts.MCPGateBin, "mcpgate", "", "mcpgate binary to soak (default: go build ./cmd/mcpgate of --repo)")
	fs.StringVar(&f.repo, "repo", ".", "the mcpgate module to build mcpgate from")
	fs.StringVar(&f.collector, "collector", "", "OpenTelemetry Collector binary (default $MCPGATE_TOOLS_BIN or ~/.cache/mcpgate/bin, otelcol-mcpgate)")
	fs.StringVar(&f.jsonOut, "json", "", "also write the report, every sample included, as JSON to this file")
	fs.BoolVar(&f.keep, "keep", false, "keep the working directory (config, logs, decision log)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.opts.Era != load.Version2025 && f.opts.Era != load.Version2026 {
		return nil, fmt.Errorf("--era %q: must be %s or %s", f.opts.Era, load.Version2025, load.Version2026)
	}
	if f.opts.Sessions < 1 || f.opts.Users < 1 || f.opts.Users > f.opts.Sessions || f.opts.Upstreams < 1 || f.opts.Upstreams > 20 {
		return nil, errors.New("--sessions and --users must be positive, --users at most --sessions, --upstreams from 1 to 20")
	}
	if f.opts.Duration <= 0 || f.opts.SampleEvery <= 0 || f.opts.SampleEvery > f.opts.Duration {
		return nil, errors.New("--duration and --sample must be positive, --sample at most --duration")
	}
	if f.opts.PolicyTimeout < 0 || f.opts.PolicyTimeout > 10*time.Second {
		return nil, errors.New("--policy-timeout must be between 1ms and 10s (policy.timeout's range)")
	}
	if rate != "" {
		r, err := load.ParseRate(rate)
		if err != nil {
			return nil, err
		}
		f.opts.Rate = r
	}
	f.opts.CollectorBin = sidebyside.CollectorBin(f.collector)
	if _, err := os.Stat(f.opts.CollectorBin); f.opts.Tracing && err != nil {
		return nil, fmt.Errorf("--tracing: no collector at %s (build it with scripts/install-tools.sh, pass --collector, or --tracing=false)", filepath.Clean(f.opts.CollectorBin))
	}
	return f, nil
}
