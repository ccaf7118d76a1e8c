package policy

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/rego"
)

// orgData is an organisation's data for the shipped library: engineering
// may use notes, nobody else anything.
const orgData = `{"mcpgate": {"config": {"groups": {"engineering": {"servers": {"notes": {"tools": {"*": "all"}}}}}}}}`

// orgRule is an organisation's own rule beside the library.
const orgRule = `package mcpgate.authz

deny contains "frozen account" if input.user.sub == "frozen"
`

// libraryDirEngine returns an engine with the shipped library (no demo
// data) that loaded dir.
func libraryDirEngine(t *testing.T, dir string) *Engine {
	t.Helper()
	return dirEngine(t, dir, Options{Library: libraryModules(t)})
}

// libraryModules returns the shipped library's modules.
func libraryModules(t *testing.T) map[string]string {
	t.Helper()
	modules, err := rego.Modules()
	if err != nil {
		t.Fatal(err)
	}
	return modules
}

func TestLoadDirWithLibrary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"data.json": orgData, "own.rego": orgRule})
	e := libraryDirEngine(t, dir)
	ctx := context.Background()

	if d := e.Decide(ctx, callInput("alice")); !d.Allow || !slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, "engineering") }) {
		t.Errorf("alice (engineering) on notes: %+v, want allowed by the library's group grant", d)
	}
	hr := callInput("alice")
	hr.Server, hr.Tool.Server, hr.Tool.UpstreamName = &Server{Name: "hr"}, "hr", "salary_report"
	if d := e.Decide(ctx, hr); d.Allow {
		t.Errorf("alice on hr: %+v, want deny (the organisation grants engineering notes only)", d)
	}
	if d := e.Decide(ctx, callInput("frozen")); d.Allow || !slices.Contains(d.Reasons, "frozen account") {
		t.Errorf("frozen: %+v, want denied by the organisation's own rule", d)
	}
	if got, want := e.Status().Source, "library+dir:"+dir; got != want {
		t.Errorf("Source = %q, want %q", got, want)
	}
}

// TestLoadDirWithLibraryNoDemoData: the library alone, without the
// organisation's data, grants nothing (its demo data is not loaded).
func TestLoadDirWithLibraryNoDemoData(t *testing.T) {
	t.Parallel()
	e := libraryDirEngine(t, t.TempDir())
	if d := e.Decide(context.Background(), callInput("alice")); d.Allow {
		t.Errorf("alice with no data: %+v, want deny", d)
	}
}

func TestLoadDirWithLibraryConflicts(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		files map[string]string
		want  []string // in the error
	}{
		"a file named like a library module": {
			map[string]string{"data.json": orgData, "sub/authz.rego": "package acme"},
			[]string{filepath.Join("sub", "authz.rego"), "has the name of the library's module library:authz.rego"},
		},
		"a rule conflicting with the library's": {
			map[string]string{"data.json": orgData, "own.rego": "package mcpgate.authz\n\ndefault allow := true\n"},
			[]string{"own.rego", "library:authz.rego", "multiple default rules"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			e := newEngine(t, nil, Options{Library: libraryModules(t)})
			err := e.LoadDir(dir)
			if !errors.Is(err, ErrLoad) {
				t.Fatalf("LoadDir = %v, want ErrLoad", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if e.Ready() || e.Status().LastError == "" {
				t.Errorf("Status = %+v, want not loaded, with the error", e.Status())
			}
		})
	}
}

// TestWatchDirKeepsLibrary: a hot reload of the directory recompiles it
// with the library, not alone.
func TestWatchDirKeepsLibrary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"data.json": `{"mcpgate": {"config": {"groups": {}}}}`})
	e := libraryDirEngine(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.WatchDir(ctx, dir)
	if e.Decide(ctx, callInput("alice")).Allow {
		t.Fatal("no groups granted yet: alice should be denied")
	}

	rev := e.Revision()
	writeFiles(t, dir, map[string]string{"data.json": orgData})
	waitFor(t, "reload after the data changed", func() bool { return e.Revision() != rev })
	if d := e.Decide(ctx, callInput("alice")); !d.Allow {
		t.Errorf("after the reload: %+v, want alice allowed by the library with the new data", d)
	}

	rev = e.Revision()
	writeFiles(t, dir, map[string]string{"authz.rego": "package acme"})
	waitFor(t, "the conflicting reload to be reported", func() bool { return e.Status().LastError != "" })
	if e.Revision() != rev || !e.Decide(ctx, callInput("alice")).Allow {
		t.Error("a conflicting file replaced the last good policy")
	}
	if got := e.Status().Source; got != "library+dir:"+dir {
		t.Errorf("Source = %q after reloads", got)
	}
}
