package store

import (
	"context"
	"errors"
	"time"
)

// Store is a key-value store with namespaces and expiry. Keys are unique
// within a namespace; a namespace needs no declaration. An entry whose
// expiry has passed is never returned and is purged in the background; a
// zero expiry means the entry never expires.
//
// Implementations are safe for concurrent use, from many goroutines and,
// for [Postgres], from many processes. After Close every method returns
// [ErrClosed].
type Store interface {
	// Get returns the value of key in ns, and whether there is one that
	// has not expired.
	Get(ctx context.Context, ns, key string) (value []byte, ok bool, err error)
	// Put sets key in ns to value until expires, replacing any entry.
	Put(ctx context.Context, ns, key string, value []byte, expires time.Time) error
	// Create sets key in ns to value until expires only if there is no
	// entry that has not expired, and reports whether it did. Of many
	// concurrent Creates of one key, exactly one succeeds.
	Create(ctx context.Context, ns, key string, value []byte, expires time.Time) (created bool, err error)
	// Delete removes key from ns; removing a missing key is no error.
	Delete(ctx context.Context, ns, key string) error
	// Close stops the background purge and releases the file or the
	// database connections.
	Close() error
}

// ErrClosed is returned by every method of a closed store.
var ErrClosed = errors.New("store: closed")

// DefaultPurgeInterval is how often expired entries are removed if
// [Options.PurgeInterval] is zero.
const DefaultPurgeInterval = 10 * time.Minute

// Options are the knobs of a store. A nil *Options means all defaults.
type Options struct {
	// PurgeInterval is how often expired entries are removed. If zero,
	// DefaultPurgeInterval; if negative, never (tests).
	PurgeInterval time.Duration
	// Now is the clock that decides expiry. If nil, time.Now.
	Now func() time.Time
}

func (o *Options) purgeInterval() time.Duration {
	if o == nil || o.PurgeInterval == 0 {
		return DefaultPurgeInterval
	}
	return o.PurgeInterval
}

func (o *Options) now() func() time.Time {
	if o == nil || o.Now == nil {
		return time.Now
	}
	return o.Now
}

// expired reports whether an entry expiring at expires (zero: never) has
// expired at now.
func expired(expires, now time.Time) bool {
	return !expires.IsZero() && !now.Before(expires)
}

// purger runs purge every interval until stop is called.
type purger struct {
	stop chan struct{}
	done chan struct{}
}

func startPurger(interval time.Duration, purge func()) *purger {
	p := &purger{stop: make(chan struct{}), done: make(chan struct{})}
	if interval < 0 {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				purge()
			}
		}
	}()
	return p
}

// halt stops the purge and waits for one that is running.
func (p *purger) halt() {
	close(p.stop)
	<-p.done
}
