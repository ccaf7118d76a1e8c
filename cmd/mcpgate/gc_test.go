package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestTuneGC: GOGC 200 unless the environment sets GOGC; a soft memory
// limit of 90% of the cgroup's (the least cgroup v2 limit from the
// process's own cgroup up to the root, else v1's) unless it sets
// GOMEMLIMIT; no limit for "max" or v1's "unlimited"; a file that holds no
// limit, or a limit too small to run in, is an error naming it, and no
// limit is set. Not parallel: the settings are the process's.
func TestTuneGC(t *testing.T) {
	prevGC, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(prevGC); debug.SetMemoryLimit(prevLimit) })
	tests := map[string]struct {
		env       map[string]string
		files     map[string]string // under the cgroup root
		self      string            // /proc/self/cgroup
		want      gcSettings
		wantOf    string // the file the limit came from, under the root
		wantError string
	}{
		"no cgroup": {want: gcSettings{gogc: 200}},
		"v2 of the own cgroup": {files: map[string]string{"kubepods/pod1/memory.max": "536870912\n", "memory.max": "max\n"},
			self: "0::/kubepods/pod1\n", want: gcSettings{gogc: 200, memLimit: 483183820}, wantOf: "kubepods/pod1/memory.max"},
		"v2 of a parent": {files: map[string]string{"init/memory.max": "max", "memory.max": "536870912"},
			self: "0::/init\n", want: gcSettings{gogc: 200, memLimit: 483183820}, wantOf: "memory.max"},
		"v2 the least on the way": {files: map[string]string{"a/b/memory.max": "max", "a/memory.max": "268435456", "memory.max": "536870912"},
			self: "0::/a/b\n", want: gcSettings{gogc: 200, memLimit: 241591910}, wantOf: "a/memory.max"},
		"relative path ignored": {files: map[string]string{"memory.max": "536870912"}, self: "0::a/b\n", want: gcSettings{gogc: 200, memLimit: 483183820}, wantOf: "memory.max"},
		"too small":             {files: map[string]string{"memory.max": "4096"}, want: gcSettings{gogc: 200}, wantError: "a memory limit of 4096 bytes is too small"},
		"v2 at the root":        {files: map[string]string{"memory.max": "1073741824"}, self: "0::/\n", want: gcSettings{gogc: 200, memLimit: 966367641}, wantOf: "memory.max"},
		"v2 without a limit":    {files: map[string]string{"memory.max": "max"}, want: gcSettings{gogc: 200}},
		"v1":                    {files: map[string]string{"memory/memory.limit_in_bytes": "268435456"}, want: gcSettings{gogc: 200, memLimit: 241591910}, wantOf: "memory/memory.limit_in_bytes"},
		"v1 unlimited":          {files: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712"}, want: gcSettings{gogc: 200}},
		"GOGC set":              {env: map[string]string{"GOGC": "50"}, files: map[string]string{"memory.max": "1073741824"}, want: gcSettings{memLimit: 966367641}, wantOf: "memory.max"},
		"GOMEMLIMIT set":        {env: map[string]string{"GOMEMLIMIT": "1GiB"}, files: map[string]string{"memory.max": "1073741824"}, want: gcSettings{gogc: 200}},
		"garbage":               {files: map[string]string{"memory.max": "lots"}, want: gcSettings{gogc: 200}, wantError: `memory.max holds "lots", not a memory limit in bytes`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1 << 62)
			root := t.TempDir()
			for file, content := range tc.files {
				path := filepath.Join(root, file)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			self := filepath.Join(t.TempDir(), "cgroup")
			if err := os.WriteFile(self, []byte(tc.self), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := tuneGC(func(k string) string { return tc.env[k] }, root, self)
			if tc.wantError == "" && err != nil || tc.wantError != "" && (err == nil || !strings.Contains(err.Error(), tc.wantError)) {
				t.Fatalf("error %v, want %q", err, tc.wantError)
			}
			want := tc.want
			if tc.wantOf != "" {
				want.limitOf = filepath.Join(root, tc.wantOf)
			}
			if got != want {
				t.Errorf("settings %+v, want %+v", got, want)
			}
			wantGC := 100
			if want.gogc != 0 {
				wantGC = want.gogc
			}
			if gc := debug.SetGCPercent(100); gc != wantGC {
				t.Errorf("GC percent %d, want %d", gc, wantGC)
			}
			wantLimit := int64(1 << 62)
			if want.memLimit != 0 {
				wantLimit = want.memLimit
			}
			if limit := debug.SetMemoryLimit(-1); limit != wantLimit {
				t.Errorf("memory limit %d, want %d", limit, wantLimit)
			}
		})
	}
}

// TestLogGC: what was tuned is logged once, with how to choose otherwise;
// a cgroup that could not be read is a warning.
func TestLogGC(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	logGC(log, gcSettings{gogc: 200, memLimit: 10, limitOf: "/sys/fs/cgroup/memory.max"}, nil)
	if got := buf.String(); !strings.Contains(got, "gogc=200") || !strings.Contains(got, "memory_limit_bytes=10") || !strings.Contains(got, "set GOGC or GOMEMLIMIT") {
		t.Errorf("log %q", got)
	}
	buf.Reset()
	logGC(log, gcSettings{}, nil)
	if buf.Len() != 0 {
		t.Errorf("nothing tuned, logged %q", buf.String())
	}
	logGC(log, gcSettings{gogc: 200}, os.ErrPermission)
	if got := buf.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "GOMEMLIMIT") {
		t.Errorf("log %q", got)
	}
}
