package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestLock: one holder at a time; a waiter gives up busy; an expired
// holder's release does not free the next holder's lock; the held context
// ends before the lease does.
func TestLock(t *testing.T) {
	t.Parallel()
	st, err := OpenFile(filepath.Join(t.TempDir(), "s.db"), &Options{PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	lease, poll := 200*time.Millisecond, 5*time.Millisecond
	held, release, err := Lock(ctx, st, "locks", "k", lease, time.Second, poll, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Lock(ctx, st, "locks", "k", lease, 20*time.Millisecond, poll, time.Now); !errors.Is(err, ErrLockBusy) {
		t.Fatalf("a second holder while the first holds it: %v, want busy", err)
	}
	deadline, ok := held.Deadline()
	if !ok || time.Until(deadline) > lease*9/10 {
		t.Errorf("held context's deadline %v, want within nine tenths of the lease", deadline)
	}
	// The first holder outlives its lease; a second takes the lock; the
	// first's late release must leave the second's lock alone.
	<-held.Done()
	_, release2, err := Lock(ctx, st, "locks", "k", lease, time.Second, poll, time.Now)
	if err != nil {
		t.Fatalf("after the lease: %v", err)
	}
	release()
	if _, _, err := Lock(ctx, st, "locks", "k", lease, 20*time.Millisecond, poll, time.Now); !errors.Is(err, ErrLockBusy) {
		t.Errorf("the first holder's late release freed the second's lock: %v", err)
	}
	release2()
	if _, release3, err := Lock(ctx, st, "locks", "k", lease, 20*time.Millisecond, poll, time.Now); err != nil {
		t.Errorf("after the second holder's release: %v", err)
	} else {
		release3()
	}
}

// slowCreate is a store whose Create answers only when its context ends.
type slowCreate struct{ Store }

func (s slowCreate) Create(ctx context.Context, _, _ string, _ []byte, _ time.Time) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

// TestLockWaitRunsOutInTheStore: a wait that runs out while the store is
// being asked is busy, as one that runs out between tries (on a loaded
// machine the store's answer can take the whole wait); the caller's own
// context ending is that context's error.
func TestLockWaitRunsOutInTheStore(t *testing.T) {
	t.Parallel()
	st, err := OpenFile(filepath.Join(t.TempDir(), "s.db"), &Options{PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	slow := slowCreate{st}
	if _, _, err := Lock(context.Background(), slow, "locks", "k", time.Second, 20*time.Millisecond, time.Millisecond, time.Now); !errors.Is(err, ErrLockBusy) {
		t.Errorf("wait ran out in the store: %v, want busy", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := Lock(ctx, slow, "locks", "k", time.Second, time.Minute, time.Millisecond, time.Now); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrLockBusy) {
		t.Errorf("the caller's context ended: %v, want its deadline", err)
	}
}
