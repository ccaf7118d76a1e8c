package console

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestExploreSlots: explorations beyond maxExplorations wait for a slot,
// then are refused as busy; one that runs gets a deadline.
func TestExploreSlots(t *testing.T) {
	t.Parallel()
	c := &Console{explorations: make(chan struct{}, maxExplorations), explorationWait: time.Millisecond}
	release := make(chan struct{})
	started := make(chan struct{}, maxExplorations)
	for range maxExplorations {
		go c.explore(context.Background(), func(context.Context) { started <- struct{}{}; <-release })
	}
	for range maxExplorations {
		<-started
	}
	ran := false
	if err := c.explore(context.Background(), func(context.Context) { ran = true }); !errors.Is(err, errBusy) || ran {
		t.Errorf("a third exploration: %v (ran: %v), want errBusy", err, ran)
	}
	close(release)
	var deadline time.Time
	for { // the slots free up as the two return
		err := c.explore(context.Background(), func(ctx context.Context) { deadline, _ = ctx.Deadline() })
		if err == nil {
			break
		}
	}
	if deadline.IsZero() {
		t.Error("an exploration runs without a deadline")
	}
}
