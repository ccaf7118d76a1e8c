//go:build linux

package testtools

import "syscall"

// setPdeathsig makes the kernel kill the child if the test binary dies
// without running its cleanups (for example when go test's timeout fires).
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
