package policy

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestEvaluationSlots: evaluations take a slot each, at most
// MaxConcurrentEvaluations at once. A decision that finds them all taken
// waits, and is decided once one frees; one that waits past QueueWait
// denies with ErrBusy, one whose request ends first with ErrCanceled; and
// every slot comes back.
func TestEvaluationSlots(t *testing.T) {
	t.Parallel()
	take := func(e *Engine) {
		for range cap(e.slots) {
			e.slots <- struct{}{}
		}
	}

	t.Run("waits for a slot", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, map[string]string{"p.rego": allowAlice}, Options{MaxConcurrentEvaluations: 2, QueueWait: time.Hour})
		take(e)
		done := make(chan Decision, 1)
		go func() { done <- e.Decide(t.Context(), callInput("alice")) }()
		e.release()
		if d := <-done; !d.Allow {
			t.Errorf("decision after a slot freed: %+v, want allowed", d)
		}
		e.release()
		if n := len(e.slots); n != 0 {
			t.Errorf("%d slots still taken after every evaluation ended", n)
		}
	})

	t.Run("busy past the queue wait", func(t *testing.T) {
		t.Parallel()
		log, buf := testLogger(t)
		e := newEngine(t, map[string]string{"p.rego": allowAlice}, Options{MaxConcurrentEvaluations: 2, QueueWait: time.Millisecond, Logger: log})
		take(e)
		d := e.Decide(t.Context(), callInput("alice"))
		if d.Allow || len(d.Reasons) != 1 || d.Reasons[0] != ErrBusy.Error() {
			t.Errorf("decision with every slot taken: %+v, want denied with %q", d, ErrBusy)
		}
		if !strings.Contains(buf.String(), "policy engine busy") {
			t.Errorf("the failure is not logged:\n%s", buf.String())
		}
	})

	t.Run("a list decision waits", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, authzModule("visible := {0, 1}\ndecision := {\"allow\": true, \"reasons\": []}"),
			Options{MaxConcurrentEvaluations: 1, QueueWait: time.Nanosecond})
		take(e)
		done := make(chan []bool, 1)
		cat := NewListCatalog([]ListEntry{{Tool: &Tool{Name: "a"}}, {Tool: &Tool{Name: "b"}}})
		go func() { done <- e.DecideList(t.Context(), &Input{Phase: PhaseList}, cat) }()
		time.Sleep(10 * time.Millisecond) // past the queue wait of a decision
		e.release()
		if got := <-done; len(got) != 2 || !got[0] || !got[1] {
			t.Errorf("list decided after a slot freed: %v, want both visible (a busy list hides them until the catalog or policy changes)", got)
		}
	})

	t.Run("request ends while waiting", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, map[string]string{"p.rego": allowAlice}, Options{MaxConcurrentEvaluations: 1, QueueWait: time.Hour})
		take(e)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan Decision, 1)
		go func() { done <- e.Decide(ctx, callInput("alice")) }()
		cancel()
		if d := <-done; d.Allow || d.Reasons[0] != ErrCanceled.Error() {
			t.Errorf("decision of a request that ended while waiting: %+v, want denied with %q", d, ErrCanceled)
		}
	})

	t.Run("default", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, map[string]string{"p.rego": allowAlice}, Options{Timeout: 50 * time.Millisecond})
		if c := cap(e.slots); c < 8 {
			t.Errorf("%d slots by default, want at least 8", c)
		}
		if e.opts.QueueWait != 100*time.Millisecond {
			t.Errorf("queue wait %v by default, want 2 × the timeout", e.opts.QueueWait)
		}
		for range 3 * cap(e.slots) { // sequential decisions give their slots back
			if d := e.Decide(t.Context(), callInput("alice")); !d.Allow {
				t.Fatalf("decision %+v", d)
			}
		}
		if n := len(e.slots); n != 0 {
			t.Errorf("%d slots taken after sequential decisions", n)
		}
	})
}
