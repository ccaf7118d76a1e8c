package gateway

import (
	"context"
	"fmt"
	"sync"
)

// inflight counts requests being answered so shutdown can wait for them.
type inflight struct {
	mu      sync.Mutex
	n       int
	closing bool
	zero    chan struct{}
}

func (f *inflight) add() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.n++
	return true
}

// isClosing reports whether shutdown has begun.
func (f *inflight) isClosing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closing
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.closing && f.n == 0 && f.zero != nil {
		close(f.zero)
		f.zero = nil
	}
}

func (f *inflight) drain(ctx context.Context) error {
	f.mu.Lock()
	f.closing = true
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	zero := make(chan struct{})
	f.zero = zero
	n := f.n
	f.mu.Unlock()
	select {
	case <-zero:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gateway: %d requests still in flight after the shutdown grace period", n)
	}
}
