//go:build linux

// Command sidebyside measures what a tool call costs through mcpgate
// against a bare reverse proxy, in one run on this machine (issue #14): the
// same load at a go-sdk upstream directly, through httputil.ReverseProxy and
// through `mcpgate serve` with sign-in, the shipped policy library with
// generated groups, the decision log on and (by default) tracing to a local
// OpenTelemetry Collector, in turns, and prints the table and the ratios.
//
//	go run ./cmd/sidebyside --rounds 3 --duration 10s
//	go run ./cmd/sidebyside --rounds 1 --duration 1s --eras 2025-11-25 --concurrency 1   # smoke
//
// It builds mcpgate from the module it runs in (or uses --mcpgate), and
// needs Linux (/proc for CPU time). Every process it starts is killed when
// it ends. Exit codes: 0 ok, 1 the run failed, 2 usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/perf/load"
	"github.com/mcpgate/mcpgate/internal/perf/sidebyside"
)

func main() { sidebyside.Main("sidebyside", run) }

// flags are the command line beyond sidebyside.Options.
type flags struct {
	opts      sidebyside.Options
	repo      string
	keep      bool
	eras, cs  string
	collector string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parse(args, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "sidebyside: %v\n", err)
		return 2
	}
	dir, done, err := sidebyside.Workspace(ctx, "sidebyside", f.repo, &f.opts.MCPGateBin, f.keep, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sidebyside: %v\n", err)
		return 1
	}
	defer done()
	f.opts.Dir = dir
	f.opts.Progress = stderr
	rep, err := sidebyside.Run(ctx, f.opts)
	if err != nil {
		fmt.Fprintf(stderr, "sidebyside: %v\n", err)
		return 1
	}
	rep.Print(stdout)
	return 0
}

func parse(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("sidebyside", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&f.opts.Duration, "duration", 10*time.Second, "length of each measured run")
	fs.DurationVar(&f.opts.Warmup, "warmup", time.Second, "unmeasured run before each measured one")
	fs.IntVar(&f.opts.Rounds, "rounds", 3, "turns per target, era and concurrency (A B C, B C A, C A B, ...)")
	fs.StringVar(&f.eras, "eras", load.Version2025+","+load.Version2026, "protocol versions, comma-separated")
	fs.StringVar(&f.cs, "concurrency", "1,16", "concurrency levels, comma-separated")
	fs.BoolVar(&f.opts.Tracing, "tracing", true, "mcpgate exports every span over OTLP to a local collector")
	fs.IntVar(&f.opts.Groups, "groups", 1000, "generated groups in the policy data")
	fs.StringVar(&f.opts.MCPGateBin, "mcpgate", "", "mcpgate binary to measure (default: go build ./cmd/mcpgate of --repo)")
	fs.StringVar(&f.repo, "repo", ".", "the mcpgate module to build mcpgate from")
	fs.StringVar(&f.collector, "collector", "", "OpenTelemetry Collector binary (default $MCPGATE_TOOLS_BIN or ~/.cache/mcpgate/bin, otelcol-mcpgate)")
	fs.StringVar(&f.opts.CPUProfile, "cpuprofile", "", "write a CPU profile of mcpgate's whole run to this file, and its allocations to FILE.allocs (go tool pprof)")
	fs.StringVar(&f.opts.GOGC, "gogc", "", "GOGC of mcpgate (default: mcpgate's own choice)")
	fs.BoolVar(&f.keep, "keep", false, "keep the working directory (config, logs, decision log)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if f.opts.Concurrency, err = parseInts(f.cs); err != nil {
		return nil, err
	}
	f.opts.Eras = strings.Split(f.eras, ",")
	for _, e := range f.opts.Eras {
		if e != load.Version2025 && e != load.Version2026 {
			return nil, fmt.Errorf("--eras: %q: must be %s or %s", e, load.Version2025, load.Version2026)
		}
	}
	if f.opts.Duration <= 0 || f.opts.Warmup < 0 || f.opts.Rounds < 1 || f.opts.Groups < 0 {
		return nil, fmt.Errorf("--duration must be positive, --warmup and --groups not negative, --rounds at least 1")
	}
	f.opts.CollectorBin = sidebyside.CollectorBin(f.collector)
	return f, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, v := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("--concurrency: %q: must be whole numbers from 1 to 1024, comma-separated", v)
		}
		out = append(out, n)
	}
	return out, nil
}
