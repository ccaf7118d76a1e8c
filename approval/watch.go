package approval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce lets a burst of file events (an editor's save, the
// symlink swap of a Kubernetes ConfigMap volume) settle into one reload.
// It runs from the first event of a burst, never restarted by later ones,
// so a busy directory cannot put a reload off for ever.
const watchDebounce = 200 * time.Millisecond

// watchPoll is how often the lock is read again whatever the events say:
// a backstop for what a watch cannot see (its directory removed and made
// again, a change between the first load and the watch). The file is
// parsed only when its content changed.
var watchPoll = 30 * time.Second

// Loaded is a lock read from its file, and the file's revision: the
// SHA-256 of its content.
type Loaded struct {
	Lock     *Lock
	Revision string
}

// Load reads the lock file at path (LoadLock) with its revision.
func Load(path string, servers []string) (Loaded, error) {
	l, data, err := loadLock(path, servers)
	if err != nil {
		return Loaded{}, err
	}
	return Loaded{Lock: l, Revision: revisionOf(data)}, nil
}

func revisionOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// Watch calls loaded with the lock at path whenever the file's content
// changes, until ctx ends, and failed with the error of a change that does
// not load (the caller keeps the last good lock); a later change that
// loads, even back to the content in force, calls loaded again, so the
// caller can clear the error. The same failure is reported once.
//
// It watches the file's directory, and the directory of the file a
// symlink at path points to, for events about the file (or a ConfigMap
// volume's ..data), so a file replaced by rename (editors, mcpgate
// approve) or by the symlink swap of a ConfigMap volume is seen; and it
// reads the file every 30 s whatever the events. current is the revision
// already loaded. The watch is in place when Watch returns.
func Watch(ctx context.Context, path string, servers []string, current string,
	loaded func(Loaded), failed func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("approval: watch the lock file: %w", err)
	}
	dirs, names := watchTargets(path)
	for _, dir := range dirs {
		if err := w.Add(dir); err != nil {
			w.Close()
			return fmt.Errorf("approval: watch the lock file's directory %s: %w", dir, err)
		}
	}
	lw := &lockWatch{path: path, servers: servers, current: current, loaded: loaded, failed: failed}
	go lw.run(ctx, w, dirs, names, watchPoll)
	return nil
}

// watchTargets are the directories to watch for path, and the names of
// the entries in them whose events matter.
func watchTargets(path string) (dirs []string, names map[string]bool) {
	names = map[string]bool{filepath.Base(path): true, "..data": true}
	dirs = []string{filepath.Dir(path)}
	if real, err := filepath.EvalSymlinks(path); err == nil && filepath.Dir(real) != filepath.Dir(path) {
		dirs = append(dirs, filepath.Dir(real))
		names[filepath.Base(real)] = true
	}
	return dirs, names
}

type lockWatch struct {
	path    string
	servers []string
	current string // revision in force
	failing string // revision (or read error) last reported, "" when none
	loaded  func(Loaded)
	failed  func(error)
}

func (lw *lockWatch) run(ctx context.Context, w *fsnotify.Watcher, dirs []string, names map[string]bool, every time.Duration) {
	defer w.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	poll := time.NewTicker(every)
	defer poll.Stop()
	lw.check() // what changed before the watch was in place
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if names[filepath.Base(ev.Name)] && !armed {
				timer.Reset(watchDebounce)
				armed = true
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			lw.fail("watch", fmt.Errorf("approval: watch the lock file: %w", err))
		case <-timer.C:
			armed = false
			lw.check()
		case <-poll.C:
			for _, dir := range dirs {
				_ = w.Add(dir) // again, if the directory was made anew
			}
			lw.check()
		}
	}
}

// check loads the file when its content is not the one in force, or when
// the last change failed.
func (lw *lockWatch) check() {
	data, err := readLockFile(lw.path)
	if err != nil {
		lw.fail("read "+err.Error(), err)
		return
	}
	rev := revisionOf(data)
	if rev == lw.current && lw.failing == "" {
		return
	}
	if rev == lw.failing {
		return // reported already
	}
	l, err := parseLockFile(lw.path, data, lw.servers)
	if err != nil {
		lw.fail(rev, err)
		return
	}
	lw.current, lw.failing = rev, ""
	lw.loaded(Loaded{Lock: l, Revision: rev})
}

// fail reports err once for key.
func (lw *lockWatch) fail(key string, err error) {
	if key == lw.failing {
		return
	}
	lw.failing = key
	if err == nil {
		err = errors.New("approval: the lock file does not load")
	}
	lw.failed(err)
}
