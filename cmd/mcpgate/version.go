package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time: go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = defaultVersion
	commit  = defaultCommit
)

const (
	defaultVersion = "dev"
	defaultCommit  = "unknown"
)

// buildInfo describes the running binary.
type buildInfo struct {
	version, commit, goVersion string
}

// currentBuild returns the linked-in version and commit, falling back to
// the module version and VCS revision that go build records.
func currentBuild() buildInfo {
	b := buildInfo{version: version, commit: commit, goVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := info.Main.Version; b.version == defaultVersion && v != "" && v != "(devel)" {
		b.version = v
	}
	if b.commit == defaultCommit {
		b.commit = vcsRevision(info)
	}
	return b
}

// vcsRevision returns the recorded revision, marked "-dirty" when the tree
// had local changes, or defaultCommit.
func vcsRevision(info *debug.BuildInfo) string {
	rev, dirty := defaultCommit, ""
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == defaultCommit {
		return rev
	}
	return rev + dirty
}

func (b buildInfo) String() string {
	return fmt.Sprintf("mcpgate %s (commit %s, built with %s)", b.version, b.commit, b.goVersion)
}

func runVersion(_ context.Context, args []string, e *env) int {
	fs := newFlagSet("version", "", "Print the version, commit and Go version of this binary.", e)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	fmt.Fprintln(e.stdout, currentBuild())
	return exitOK
}
