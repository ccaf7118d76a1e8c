package approval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce lets a burst of file events (an editor's save, the
// symlink swap of a Kubernetes ConfigMap volume) settle into one reload.
const watchDebounce = 200 * time.Millisecond

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
// not load (the caller keeps the last good lock). It watches the file's
// directory, so a file replaced by rename (editors, `mcpgate approve`) or
// by the symlink swap of a ConfigMap volume is seen. current is the
// revision already loaded: an event that leaves the content as it is
// loads nothing. The watch is in place when Watch returns.
func Watch(ctx context.Context, path string, servers []string, current string,
	loaded func(Loaded), failed func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("approval: watch the lock file: %w", err)
	}
	if err := w.Add(filepath.Dir(path)); err != nil {
		w.Close()
		return fmt.Errorf("approval: watch the lock file's directory %s: %w", filepath.Dir(path), err)
	}
	go func() {
		defer w.Close()
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				timer.Reset(watchDebounce)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				failed(fmt.Errorf("approval: watch the lock file: %w", err))
			case <-timer.C:
				l, err := Load(path, servers)
				if err != nil {
					failed(err)
					continue
				}
				if l.Revision == current {
					continue
				}
				current = l.Revision
				loaded(l)
			}
		}
	}()
	return nil
}
