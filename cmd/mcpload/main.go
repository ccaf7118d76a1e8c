// Command mcpload drives tools/call load at any MCP endpoint and prints a
// JSON summary: throughput, latency percentiles and errors by kind. It is a
// binary of its own, not an mcpgate subcommand, because it is a tool for
// measuring gateways (mcpgate or any other) and does not belong in the
// image that runs one.
//
//	mcpload --url http://127.0.0.1:8080/mcp --token "$T" --tool notes__list_notes \
//	    --concurrency 16 --duration 10s --warmup 2s
//	mcpload --url ... --rate 500/s --duration 30s   # fixed rate, no coordinated omission
//
// The token may come from MCPLOAD_TOKEN instead of --token (so it stays out
// of the process list). Exit codes: 0 ok, 1 the run failed, 2 usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mcpgate/mcpgate/internal/perf/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg, err := parse(args, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mcpload: %v\n", err)
		return 2
	}
	s, err := load.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mcpload: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		fmt.Fprintf(stderr, "mcpload: write summary: %v\n", err)
		return 1
	}
	return 0
}

func parse(args []string, stderr io.Writer, getenv func(string) string) (load.Config, error) {
	var cfg load.Config
	var rate, arguments string
	var quiet bool
	fs := flag.NewFlagSet("mcpload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.URL, "url", "", "MCP endpoint, e.g. http://127.0.0.1:8080/mcp (required)")
	fs.StringVar(&cfg.Token, "token", getenv("MCPLOAD_TOKEN"), "bearer token (default $MCPLOAD_TOKEN)")
	fs.StringVar(&cfg.ProtocolVersion, "era", load.Version2025, "protocol version: "+load.Version2025+" (sessions) or "+load.Version2026+" (stateless)")
	fs.IntVar(&cfg.Sessions, "sessions", 1, "client sessions, shared by the workers")
	fs.IntVar(&cfg.Concurrency, "concurrency", 1, "workers, each with one call in flight")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured run length (ignored with --count)")
	fs.IntVar(&cfg.Count, "count", 0, "exact number of measured calls (overrides --duration)")
	fs.StringVar(&rate, "rate", "", "fixed rate, e.g. 500/s or 500; empty: closed loop")
	var tools string
	fs.StringVar(&tools, "tool", load.DefaultTool, "tool to call; several, comma-separated, are called in turn")
	fs.StringVar(&arguments, "args", "{}", "tool arguments, a JSON object")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "unmeasured closed-loop warmup before the run")
	fs.DurationVar(&cfg.Timeout, "timeout", load.DefaultTimeout, "time limit per call")
	fs.BoolVar(&quiet, "quiet", false, "no progress line on stderr")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	r, err := load.ParseRate(rate)
	if err != nil {
		return cfg, err
	}
	cfg.Rate = r
	cfg.Tools = strings.Split(tools, ",")
	cfg.Arguments = json.RawMessage(arguments)
	if cfg.Count > 0 {
		cfg.Duration = 0
	}
	if !quiet {
		cfg.Progress = stderr
	}
	return cfg, cfg.Validate()
}
