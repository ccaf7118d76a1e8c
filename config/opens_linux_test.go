package config

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
	"unsafe"
)

// watchOpens counts, with inotify, the opens of the files in dir from now
// on; the returned function reports them by file name.
func watchOpens(t *testing.T, dir string) func() map[string]int {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_OPEN); err != nil {
		t.Skipf("inotify: %v", err)
	}
	return func() map[string]int {
		opens := map[string]int{}
		buf := make([]byte, 64<<10)
		for {
			n, err := syscall.Read(fd, buf)
			if errors.Is(err, syscall.EAGAIN) {
				return opens
			} else if err != nil {
				t.Fatalf("read inotify events: %v", err)
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
				opens[string(bytes.TrimRight(name, "\x00"))]++
				off += syscall.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}
