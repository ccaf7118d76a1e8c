package authserver

import (
	"context"
	"errors"
	"time"
)

// Bounds of the per-employee lock.
const (
	// userLockTTL frees the lock of a replica that died holding it.
	userLockTTL = 10 * time.Second
	// userLockWait is how long a request waits for the lock.
	userLockWait = 3 * time.Second
	// userLockRetry is how often a waiting request tries again.
	userLockRetry = 5 * time.Millisecond
)

var errUserLocked = errors.New("the employee's consents are being changed by another request: try again")

// lockUser serialises the changes to one employee's consent records
// (read, change, write back), across replicas: the store has no
// transactions, and two authorizations at once would otherwise lose a
// refresh-token family from the consent that revocation reads, or a
// client from the list the grants page shows. The lock is a record
// created once (Store.Create); it expires after userLockTTL should its
// holder die.
func (s *Server) lockUser(ctx context.Context, sub string) (unlock func(), err error) {
	key := hashKey(sub)
	deadline := time.Now().Add(userLockWait)
	for {
		ok, err := s.opts.Store.Create(ctx, nsUserLock, key, []byte{1}, s.now().Add(userLockTTL))
		switch {
		case err != nil:
			return nil, err
		case ok:
			return func() { s.opts.Store.Delete(context.WithoutCancel(ctx), nsUserLock, key) }, nil
		case time.Now().After(deadline):
			return nil, errUserLocked
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(userLockRetry):
		}
	}
}
