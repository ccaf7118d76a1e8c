package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"time"
)

// ErrLockBusy is returned by [Lock] when another holder kept the lock for
// all of the wait.
var ErrLockBusy = errors.New("store: the lock is held by another")

// Lock takes the lock key in ns, shared by every process of st: an entry
// created atomically ([Store.Create]) holding a random value of this
// holder's, which expires after lease should the holder die. It tries every
// poll for up to wait, then gives up with [ErrLockBusy] (or ctx's error).
//
// The returned context ends at nine tenths of the lease, so that work done
// under the lock stops before another holder may take it; release deletes
// the entry only while it still holds this holder's value (the store has
// no compare-and-delete: a Get and a Delete apart, a window of one round
// trip, at the end of a lease the holder already ran out of). now is the
// clock of the store's expiry.
func Lock(ctx context.Context, st Store, ns, key string, lease, wait, poll time.Duration, now func() time.Time) (held context.Context, release func(), err error) {
	owner := []byte(rand.Text())
	wctx, cancelWait := context.WithTimeout(ctx, wait)
	defer cancelWait()
	for {
		created, err := st.Create(wctx, ns, key, owner, now().Add(lease))
		if err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				// The wait ran out while the store was asked: busy, as
				// when it runs out between two tries.
				return nil, nil, ErrLockBusy
			}
			return nil, nil, err
		}
		if created {
			break
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return nil, nil, context.Cause(ctx)
			}
			return nil, nil, ErrLockBusy
		case <-time.After(poll):
		}
	}
	held, cancel := context.WithTimeout(ctx, lease*9/10)
	return held, func() {
		cancel()
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer dcancel()
		if v, ok, err := st.Get(dctx, ns, key); err == nil && ok && bytes.Equal(v, owner) {
			_ = st.Delete(dctx, ns, key)
		}
	}, nil
}
