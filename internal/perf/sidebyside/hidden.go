//go:build linux

package sidebyside

import "os"

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
