package policy

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce lets a burst of file events (an editor's save, a ConfigMap
// symlink swap) settle into one reload.
const watchDebounce = 200 * time.Millisecond

// WatchDir reloads dir with LoadDir whenever anything under it changes,
// until ctx is done. It watches dir and its subdirectories (new ones too)
// and reloads on any event, debounced by 200ms, so the atomic symlink swap
// Kubernetes does for a ConfigMap volume is picked up. A failed reload keeps
// the last good policy; the error is logged and reported by Status. The
// watch is in place when WatchDir returns; if it cannot be set up the error
// is logged and reported by Status.
func (e *Engine) WatchDir(ctx context.Context, dir string) {
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = addTree(w, dir)
	}
	if err != nil {
		err = e.fail(fmt.Errorf("%w: watch %s: %w", ErrLoad, dir, err))
		e.log.Error("policy: watch", slog.String("error", err.Error()))
		if w != nil {
			w.Close()
		}
		return
	}
	go e.watchLoop(ctx, w, dir)
}

func (e *Engine) watchLoop(ctx context.Context, w *fsnotify.Watcher, dir string) {
	defer w.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			e.log.Debug("policy: watch event", slog.String("event", ev.String()))
			timer.Reset(watchDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			e.log.Warn("policy: watch", slog.String("error", err.Error()))
		case <-timer.C:
			if err := addTree(w, dir); err != nil { // new subdirectories
				e.log.Warn("policy: watch", slog.String("error", err.Error()))
			}
			if err := e.LoadDir(dir); err != nil {
				e.log.Error("policy: reload failed; keeping the last good policy",
					slog.String("revision", e.Revision()), slog.String("error", err.Error()))
			}
		}
	}
}

// addTree watches dir and every directory under it except hidden ones.
func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		return w.Add(path)
	})
}
