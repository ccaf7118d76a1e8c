//go:build !linux

// Command sidebyside needs Linux: it reads each process's CPU time from
// /proc.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "sidebyside: needs Linux (/proc for CPU per call)")
	os.Exit(1)
}
