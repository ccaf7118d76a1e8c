//go:build linux

package sidebyside

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// The hidden subcommands by which Run starts this program again as the
// upstream and the proxy (see cmd/sidebyside).
const (
	hiddenUpstream = "_upstream"
	hiddenProxy    = "_proxy"
)

// Hidden runs a hidden subcommand if args (os.Args[1:]) name one, and
// reports whether they did; it returns only if not, or on error.
func Hidden(args []string) (bool, error) {
	if len(args) == 0 {
		return false, nil
	}
	switch {
	case args[0] == hiddenUpstream:
		return true, ServeUpstream(os.Stdout)
	case args[0] == hiddenProxy && len(args) == 2:
		return true, ServeProxy(args[1], os.Stdout)
	}
	return false, nil
}

// Main is the main function of a command that starts this program again
// for its upstreams and proxy (cmd/sidebyside, cmd/soak): it runs a hidden
// subcommand if the arguments name one, else run with a context that
// SIGINT and SIGTERM end, and exits with run's code.
func Main(prog string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	if hidden, err := Hidden(os.Args[1:]); hidden {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", prog, os.Args[1], err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
