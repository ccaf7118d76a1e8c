package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Ending a sealed session must hold on every replica: any replica with the
// keys could otherwise take the ended session over from its id. The
// replica that serves the DELETE records the id in the store (Options.Store,
// shared by the replicas) until the id would expire anyway; a replica checks
// the store before it takes a session over, never for a session it already
// serves, so requests of known sessions cost nothing more. A replica that
// holds a copy of the session from an earlier take-over keeps serving it
// until its idle timeout: the DELETE reaches one replica only.

const (
	// endedNamespace is the store namespace of ended session ids.
	endedNamespace = "gateway.sessions.ended"
	// storeTimeout bounds one store operation of a request.
	storeTimeout = 5 * time.Second
)

var (
	// ErrNoLock is returned by New when a server's approval mode is not
	// off and Options.Lock is nil.
	ErrNoLock = errors.New("gateway: approval is on but no lock file was given: load approval.lock_file (mcpgate approve writes it) into Options.Lock")
	// ErrNoStore is returned by New when Options.SessionKeys is set
	// without Options.Store: a sealed session ended on one replica could
	// be taken over by another.
	ErrNoStore = errors.New("gateway: session keys without a Store: ending a sealed session must reach every replica")

	errSessionEnded     = errors.New("session ended")
	errStoreUnavailable = errors.New("the session store is unavailable")
)

// endedKey is the store key of a session id: its SHA-256, so that the
// store holds no usable id and keys have one size.
func endedKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// checkEnded reports errSessionEnded for a session id ended on any
// replica, errStoreUnavailable when the store cannot tell (the take-over
// is refused: fail closed), nil otherwise.
func (t *sessionTable) checkEnded(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	_, ended, err := t.store.Get(ctx, endedNamespace, endedKey(id))
	switch {
	case err != nil:
		t.g.log.Error("cannot check whether a session was ended; the take-over is refused", "error", err)
		return errStoreUnavailable
	case ended:
		t.remember(id)
		return errSessionEnded
	}
	return nil
}

// end records that a client ended its session id with DELETE here: in
// this replica's table, and in the store for the others, until the sealed
// id expires. An id that is not sealed (or has expired) cannot be taken
// over and is only remembered here. On a store error the id is not
// remembered either, so that the client's retry takes the session over
// again and records its end.
func (t *sessionTable) end(ctx context.Context, id string) error {
	st, err := t.sealer.open(id)
	if err != nil {
		t.remember(id)
		return nil
	}
	expires := time.Unix(st.Created, 0).Add(sealedSessionLifetime + sealedClockSkew)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := t.store.Put(ctx, endedNamespace, endedKey(id), nil, expires); err != nil {
		t.g.log.Error("cannot record an ended session for the other replicas; the client must retry the DELETE", "error", err)
		return errStoreUnavailable
	}
	t.remember(id)
	return nil
}

// remember keeps an ended id in this replica's table, a cache of the
// store, bounded by maxEnded.
func (t *sessionTable) remember(id string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ended) >= maxEnded {
		for k, until := range t.ended {
			if now.After(until) {
				delete(t.ended, k)
			}
		}
		for k := range t.ended { // still full: forget arbitrary ones
			if len(t.ended) < maxEnded/2 {
				break
			}
			delete(t.ended, k)
		}
	}
	t.ended[id] = now.Add(sealedSessionLifetime)
}
