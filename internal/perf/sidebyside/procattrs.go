//go:build linux

package sidebyside

import "syscall"

// procAttrs puts a child in its own process group (killed as a whole) and
// has the kernel kill it if this program dies first.
func procAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
