package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// The garbage collector of a long-running gateway. A call through mcpgate
// allocates tens of kilobytes (its spans, its decision-log line, HTTP on
// two sides) while the live heap stays small (the policy, views and
// sessions), so with Go's default GOGC=100 the collector runs several
// times a second under load and takes about an eighth of the gateway's CPU
// (BENCHMARKS.md). serve and dev therefore run with GOGC=200 unless GOGC
// is set: the heap may grow to about three times what is live rather than
// twice. Under a cgroup memory limit (a Kubernetes pod's limits.memory)
// and without GOMEMLIMIT, they also set a soft memory limit of 90% of it,
// so that the collector works harder as memory runs short instead of the
// pod being killed. GOGC and GOMEMLIMIT, when set, are left to the Go
// runtime, which reads them itself.

// defaultGOGC is mcpgate's GOGC when the environment sets none.
const defaultGOGC = 200

// memLimitShare is the part of a cgroup memory limit given to GOMEMLIMIT:
// the rest is for memory the Go runtime does not manage (the binary's
// code, the kernel's buffers charged to the pod).
const memLimitShare = 0.9

// gcSettings is what tuneGC set: zero values for what it left alone.
type gcSettings struct {
	gogc     int    // the GOGC set, 0 when GOGC was in the environment
	memLimit int64  // the soft memory limit set in bytes, 0 when none
	limitOf  string // the file the memory limit came from
}

// tuneGC applies mcpgate's garbage-collector defaults (above); cgroupRoot
// is where the cgroup file system is mounted (/sys/fs/cgroup). A cgroup
// file that cannot be read as a limit is an error, and no limit is set;
// GOGC is set all the same.
func tuneGC(getenv func(string) string, cgroupRoot, procSelfCgroup string) (gcSettings, error) {
	var s gcSettings
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
		s.gogc = defaultGOGC
	}
	if getenv("GOMEMLIMIT") != "" {
		return s, nil
	}
	limit, file, err := cgroupMemoryLimit(cgroupRoot, procSelfCgroup)
	if err != nil || limit == 0 {
		return s, err
	}
	s.memLimit, s.limitOf = int64(float64(limit)*memLimitShare), file
	debug.SetMemoryLimit(s.memLimit)
	return s, nil
}

// logGC reports what tuneGC did.
func logGC(log *slog.Logger, s gcSettings, err error) {
	if err != nil {
		log.Warn("runtime: no soft memory limit from the cgroup; set GOMEMLIMIT", "err", err)
	}
	if s.gogc == 0 && s.memLimit == 0 {
		return
	}
	attrs := []any{}
	if s.gogc != 0 {
		attrs = append(attrs, "gogc", s.gogc)
	}
	if s.memLimit != 0 {
		attrs = append(attrs, "memory_limit_bytes", s.memLimit, "memory_limit_of", s.limitOf)
	}
	log.Info("runtime: garbage collector tuned for a gateway (set GOGC or GOMEMLIMIT to choose otherwise)", attrs...)
}

// unlimited is the least cgroup v1 value that means no limit (the kernel
// writes the largest multiple of the page size).
const unlimited = 1 << 60

// minMemLimit is the least cgroup limit mcpgate takes a soft limit from:
// below it the rest of 10% would not hold the binary, and the collector
// would run without pause.
const minMemLimit = 64 << 20

// cgroupMemoryLimit is the memory limit of this process's cgroup in bytes,
// 0 when there is none: the least of cgroup v2's memory.max on the way
// from the process's own cgroup up to the root the container sees (a limit
// may sit on a parent, as on a systemd slice), or else cgroup v1's
// memory.limit_in_bytes. It also names the file the limit came from. A
// limit under minMemLimit is an error.
func cgroupMemoryLimit(root, procSelfCgroup string) (int64, string, error) {
	var files []string
	for own := cgroupV2Path(procSelfCgroup); own != "" && own != "/"; own = filepath.Dir(own) {
		files = append(files, filepath.Join(root, own, "memory.max"))
	}
	files = append(files, filepath.Join(root, "memory.max"))
	var limit int64
	var from string
	for _, file := range files {
		n, err := readLimit(file)
		if err != nil {
			return 0, file, err
		}
		if n > 0 && (limit == 0 || n < limit) {
			limit, from = n, file
		}
	}
	if limit == 0 { // no cgroup v2 limit: cgroup v1's, if any
		from = filepath.Join(root, "memory", "memory.limit_in_bytes")
		n, err := readLimit(from)
		if err != nil || n == 0 {
			return 0, "", err
		}
		limit = n
	}
	if limit < minMemLimit {
		return 0, from, fmt.Errorf("%s: a memory limit of %d bytes is too small to run mcpgate (at least %d MiB)", from, limit, minMemLimit>>20)
	}
	return limit, from, nil
}

// readLimit reads one cgroup memory limit file: 0 when it does not exist
// or says there is no limit.
func readLimit(file string) (int64, error) {
	raw, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", file, err)
	}
	v := strings.TrimSpace(string(raw))
	if v == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s holds %q, not a memory limit in bytes", file, v)
	}
	if n >= unlimited {
		return 0, nil
	}
	return n, nil
}

// cgroupV2Path is the cgroup v2 path of /proc/self/cgroup ("0::/path"),
// "" when it has none or cannot be read.
func cgroupV2Path(procSelfCgroup string) string {
	f, err := os.Open(procSelfCgroup)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok && strings.HasPrefix(p, "/") && p != "/" && !strings.Contains(p, "..") {
			return p
		}
	}
	return ""
}
