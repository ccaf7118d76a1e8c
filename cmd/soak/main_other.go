//go:build !linux

// Command soak needs Linux, as the side-by-side it shares its processes
// with does (/proc).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "soak: needs Linux (/proc)")
	os.Exit(1)
}
