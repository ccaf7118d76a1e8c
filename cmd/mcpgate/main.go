// Command mcpgate is a policy-enforcing gateway for MCP (Model Context
// Protocol) servers. It only parses flags and wires the packages together;
// see [run] for the subcommands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
