package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fileLockTimeout bounds the wait for the file lock another process holds:
// one file serves one process, so a second one fails rather than waits.
const fileLockTimeout = time.Second

// File is a [Store] in one embedded file (bbolt), for a single replica. A
// namespace is a bucket; a value is stored behind its expiry (8 bytes,
// Unix nanoseconds, 0 for never). The file is locked: a second process
// opening it fails.
type File struct {
	db     *bolt.DB
	now    func() time.Time
	purger *purger

	mu     sync.RWMutex // guards closed against use during Close
	closed bool
}

var _ Store = (*File)(nil)

// OpenFile opens, or creates with mode 0600, the store file at path.
func OpenFile(path string, opts *Options) (*File, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: fileLockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			err = errors.New("the file is locked by another process")
		}
		return nil, fmt.Errorf("store: open %q: %w", path, err)
	}
	f := &File{db: db, now: opts.now()}
	f.purger = startPurger(opts.purgeInterval(), func() { _ = f.purge() })
	return f, nil
}

// Get implements [Store].
func (f *File) Get(ctx context.Context, ns, key string) ([]byte, bool, error) {
	var value []byte
	err := f.view(ctx, func(tx *bolt.Tx) error {
		if v, ok := f.live(tx, ns, key); ok {
			value = append([]byte{}, v...)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: get: %w", err)
	}
	return value, value != nil, nil
}

// Put implements [Store].
func (f *File) Put(ctx context.Context, ns, key string, value []byte, expires time.Time) error {
	err := f.update(ctx, func(tx *bolt.Tx) error {
		return f.put(tx, ns, key, value, expires)
	})
	if err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	return nil
}

// Create implements [Store]. bbolt runs one write transaction at a time,
// so the check and the insert are atomic.
func (f *File) Create(ctx context.Context, ns, key string, value []byte, expires time.Time) (bool, error) {
	created := false
	err := f.update(ctx, func(tx *bolt.Tx) error {
		if _, ok := f.live(tx, ns, key); ok {
			return nil
		}
		created = true
		return f.put(tx, ns, key, value, expires)
	})
	if err != nil {
		return false, fmt.Errorf("store: create: %w", err)
	}
	return created, nil
}

// Delete implements [Store].
func (f *File) Delete(ctx context.Context, ns, key string) error {
	err := f.update(ctx, func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(ns)); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	return nil
}

// Close implements [Store].
func (f *File) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	f.purger.halt()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// purge removes every expired entry.
func (f *File) purge() error {
	now := f.now()
	return f.update(context.Background(), func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			var dead [][]byte
			err := b.ForEach(func(k, v []byte) error {
				if exp, _, ok := decodeFileValue(v); !ok || expired(exp, now) {
					dead = append(dead, append([]byte{}, k...))
				}
				return nil
			})
			for _, k := range dead {
				if err == nil {
					err = b.Delete(k)
				}
			}
			return err
		})
	})
}

// live returns the value of key in ns if it has not expired. It points
// into the transaction's memory.
func (f *File) live(tx *bolt.Tx, ns, key string) ([]byte, bool) {
	b := tx.Bucket([]byte(ns))
	if b == nil {
		return nil, false
	}
	exp, v, ok := decodeFileValue(b.Get([]byte(key)))
	if !ok || expired(exp, f.now()) {
		return nil, false
	}
	return v, true
}

func (f *File) put(tx *bolt.Tx, ns, key string, value []byte, expires time.Time) error {
	if key == "" {
		return errors.New("empty key")
	}
	b, err := tx.CreateBucketIfNotExists([]byte(ns))
	if err != nil {
		return err
	}
	return b.Put([]byte(key), encodeFileValue(value, expires))
}

func (f *File) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	return f.do(ctx, func() error { return f.db.View(fn) })
}

func (f *File) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return f.do(ctx, func() error { return f.db.Update(fn) })
}

// do runs fn unless ctx is done or the store is closed; Close waits for it.
func (f *File) do(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return ErrClosed
	}
	return fn()
}

func encodeFileValue(value []byte, expires time.Time) []byte {
	out := make([]byte, 8, 8+len(value))
	if !expires.IsZero() {
		binary.BigEndian.PutUint64(out, uint64(expires.UnixNano()))
	}
	return append(out, value...)
}

// decodeFileValue splits a stored value; ok is false for nil or a value
// too short to be one of ours.
func decodeFileValue(raw []byte) (expires time.Time, value []byte, ok bool) {
	if len(raw) < 8 {
		return time.Time{}, nil, false
	}
	if n := binary.BigEndian.Uint64(raw); n != 0 {
		expires = time.Unix(0, int64(n))
	}
	return expires, raw[8:], true
}
