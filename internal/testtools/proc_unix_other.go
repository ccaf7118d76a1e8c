//go:build unix && !linux

package testtools

import "syscall"

func setPdeathsig(*syscall.SysProcAttr) {}
