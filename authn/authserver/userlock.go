package authserver

import (
	"context"
	"errors"
	"time"

	"github.com/mcpgate/mcpgate/store"
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
// client from the list the grants page shows. The lock is store.Lock's,
// expiring after userLockTTL should its holder die; the work under it runs
// in the returned context, which ends before that.
func (s *Server) lockUser(ctx context.Context, sub string) (context.Context, func(), error) {
	held, unlock, err := store.Lock(ctx, s.opts.Store, nsUserLock, hashKey(sub), userLockTTL, userLockWait, userLockRetry, s.now)
	if errors.Is(err, store.ErrLockBusy) {
		return nil, nil, errUserLocked
	}
	return held, unlock, err
}
