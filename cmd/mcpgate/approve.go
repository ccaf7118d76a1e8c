package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/approval"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/gateway"
)

const approveAbout = `Pin what the security team approved (docs/approval.md): connect to the
configuration's upstream servers with their configured credentials, show
each tool, prompt, resource and resource template that changed since the
lock file (or all of them, for a new lock), and write the lock file: per
item, the SHA-256 of its canonical definition (RFC 8785) and the
definition itself, for review in git. The lock is --lock, else
approval.lock_file, else mcpgate.lock.yaml beside the configuration.
With --server, only that server is approved anew; the lock keeps the
others. With --diff, nothing is written: the changes are printed and the
exit status is 1 if there are any. Without --yes, approve asks before it
writes (and refuses when it cannot ask). Exit status 0 when the lock is
written or up to date, 1 on changes with --diff or on any failure.`

func runApprove(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("approve", "--config FILE [--lock FILE] [--server NAME] [--diff] [--yes] [--wait DURATION]", approveAbout, e)
	path := configFlag(fs)
	lockPath := fs.String("lock", "", "lock `FILE` to compare with and write (default approval.lock_file, else mcpgate.lock.yaml beside the configuration)")
	server := fs.String("server", "", "approve only the server `NAME` (the lock keeps the others)")
	diff := fs.Bool("diff", false, "print what changed since the lock and exit 1 if anything did; write nothing")
	yes := fs.Bool("yes", false, "write the lock without asking (for pipelines)")
	wait := fs.Duration("wait", 0, "how long to wait for the servers to answer (default: the longest servers[].timeout + 5s)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if code, ok := requireConfig(fs, path); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	names := serverNames(cfg)
	selected := names
	if *server != "" {
		if !slices.Contains(names, *server) {
			fmt.Fprintf(e.stderr, "--server: no server %q in %s (servers[].name: %s)\n", *server, *path, strings.Join(names, ", "))
			return exitFail
		}
		selected = []string{*server}
	}
	if *lockPath == "" {
		*lockPath = cfg.Approval.LockFile
	}
	if *lockPath == "" {
		*lockPath = filepath.Join(filepath.Dir(*path), config.DefaultLockFile)
	}
	lock, exists, err := readLockForApprove(*lockPath, e.stderr)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	listings, err := listServers(ctx, cfg, selected, *wait)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	changed := 0
	next := lock
	for _, name := range selected {
		changes := approval.Compare(lock.Server(name), listings[name])
		changed += len(changes)
		if len(changes) == 0 {
			fmt.Fprintf(e.stdout, "server %q: %d items, unchanged since approval\n", name, len(listings[name]))
		} else {
			fmt.Fprintf(e.stdout, "server %q: %d items, %d changed since approval:\n", name, len(listings[name]), len(changes))
			approval.WriteChanges(e.stdout, name, changes)
		}
		next = next.Approve(name, listings[name])
	}
	// Servers the configuration no longer has leave the lock (not when
	// approving one server: --server answers for that one only).
	for _, name := range lock.Servers() {
		if *server == "" && !slices.Contains(names, name) {
			fmt.Fprintf(e.stdout, "server %q: not in the configuration; it leaves the lock\n", name)
			next = next.Without(name)
			changed++
		}
	}
	switch {
	case *diff:
		if changed > 0 || !exists {
			if !exists {
				fmt.Fprintf(e.stdout, "no lock file at %s yet: everything is unapproved\n", *lockPath)
			}
			return exitFail
		}
		return exitOK
	case changed == 0 && exists:
		fmt.Fprintf(e.stdout, "%s is up to date\n", *lockPath)
		return exitOK
	}
	if !*yes {
		ok, err := confirm(e, fmt.Sprintf("Write %d change(s) to %s? [y/N] ", changed, *lockPath))
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitFail
		}
		if !ok {
			fmt.Fprintln(e.stdout, "nothing written")
			return exitFail
		}
	}
	data, err := next.Marshal()
	if err == nil {
		err = writeAtomically(*lockPath, data)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "wrote %s: review its diff and merge it; a running gateway reloads it\n", *lockPath)
	return exitOK
}

// readLockForApprove reads the lock to compare with: none yet is an empty
// lock; servers it has that the configuration has not are kept for
// runApprove to drop, with a note.
func readLockForApprove(path string, stderr io.Writer) (*approval.Lock, bool, error) {
	l, err := approval.LoadLock(path, nil)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stderr, "no lock file at %s: approving from scratch\n", path)
		return &approval.Lock{}, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("%w\n(fix it, or restore it from git; approve compares with it)", err)
	}
	return l, true, nil
}

// listServers connects to the servers named, as the gateway does (each
// with its configured credentials), and returns what each lists.
func listServers(ctx context.Context, cfg *config.Config, names []string, wait time.Duration) (map[string][]approval.Item, error) {
	c := *cfg
	// Approve compares with the lock itself: the gateway it connects
	// through pins nothing.
	c.Approval = config.Approval{}
	c.Servers = nil
	for _, s := range cfg.Servers {
		if !slices.Contains(names, s.Name) {
			continue
		}
		s.Approval = ""
		if s.Auth != nil && s.Auth.Kind == config.AuthOAuth {
			// An employee's own token is for the employee's calls;
			// the gateway's own session with such a server, which
			// lists it, carries none. So does approve's.
			s.Auth = nil
		}
		c.Servers = append(c.Servers, s)
		wait = max(wait, time.Duration(s.Timeout)+5*time.Second)
	}
	prov, err := c.Provision()
	if err != nil {
		return nil, err
	}
	// Nothing is served: the gateway only connects and lists.
	opts := &gateway.Options{Authorizer: gateway.AllowAll{}, Logger: slog.New(slog.DiscardHandler)}
	if err := withIdentityAssertions(opts, prov); err != nil {
		return nil, err
	}
	gw, err := gateway.New(&c, opts)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	gw.Start(wctx)
	defer gw.Close(context.Background())
	_ = gw.WaitSettled(wctx)
	out := map[string][]approval.Item{}
	var errs error
	for _, name := range names {
		items, err := gw.Listing(name)
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		out[name] = items
	}
	if errs != nil {
		return nil, fmt.Errorf("approve: %w\n(nothing written: approve every server it was asked to, or name one with --server)", errs)
	}
	return out, nil
}

// confirm asks question on stdout and reads y or yes from stdin.
func confirm(e *env, question string) (bool, error) {
	if e.stdin == nil {
		return false, errors.New("approve: cannot ask before writing (no terminal): add --yes to write without asking")
	}
	fmt.Fprint(e.stdout, question)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return false, errors.New("approve: no answer: add --yes to write without asking")
	}
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes", nil
}

// writeAtomically replaces path with data by rename, so a gateway watching
// it never reads half a file: through a symlink at path (the lock kept in
// a checkout elsewhere) to its target, with the mode the file had (0644
// for a new one), synced to disk before and after the rename.
func writeAtomically(path string, data []byte) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	fail := func(err error) error { return fmt.Errorf("approve: write %s: %w", path, err) }
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mcpgate-lock-*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fail(err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		_ = dir.Sync() // the rename itself, where the file system allows
		dir.Close()
	}
	return nil
}

// serverNames are the names of cfg's servers.
func serverNames(cfg *config.Config) []string {
	names := make([]string, len(cfg.Servers))
	for i, s := range cfg.Servers {
		names[i] = s.Name
	}
	return names
}

// loadLock reads approval.lock_file; nil without one. A lock that does not
// load is an error naming the key: a gateway told to pin never starts
// without its lock.
func loadLock(cfg *config.Config) (*approval.Loaded, error) {
	if cfg.Approval.LockFile == "" {
		return nil, nil
	}
	l, err := approval.Load(cfg.Approval.LockFile, serverNames(cfg))
	if err != nil {
		return nil, fmt.Errorf("approval.lock_file: %w", err)
	}
	return &l, nil
}

// watchLock reloads the lock into gw whenever its file changes, until
// ctx ends.
func watchLock(ctx context.Context, cfg *config.Config, gw *gateway.Gateway, l *approval.Loaded) error {
	if l == nil {
		return nil
	}
	if err := approval.Watch(ctx, cfg.Approval.LockFile, serverNames(cfg), l.Revision, gw.SetLock, gw.LockFailed); err != nil {
		return fmt.Errorf("approval.lock_file: %w", err)
	}
	return nil
}
