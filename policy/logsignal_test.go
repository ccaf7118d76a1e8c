package policy

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools"
)

// The engine reports what its background work did (a reload by WatchDir, a
// bundle activated or refused, OPA's console decision log) by logging it.
// A test waits for those records instead of polling the engine's state.

// logged is one record the engine logged: its message and its own attrs.
type logged struct {
	msg   string
	attrs map[string]string
}

// logRecords collects the records of a logger and rings on each new one.
type logRecords struct {
	mu      sync.Mutex
	records []logged
	next    int           // the first record await has not consumed
	ring    chan struct{} // buffer of one: rings coalesce
}

// signalLogger is testLogger that also collects its records.
func signalLogger(t *testing.T) (*slog.Logger, *testtools.SyncBuffer, *logRecords) {
	log, buf := testLogger(t)
	recs := &logRecords{ring: make(chan struct{}, 1)}
	return slog.New(&signalHandler{Handler: log.Handler(), recs: recs}), buf, recs
}

// await returns the first record after the last one awaited that match
// accepts, waiting for it to be logged; the records before it are passed
// over for good. The deadline only bounds a failing test.
func (l *logRecords) await(t *testing.T, what string, match func(logged) bool) logged {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		l.mu.Lock()
		for l.next < len(l.records) {
			r := l.records[l.next]
			l.next++
			if match(r) {
				l.mu.Unlock()
				return r
			}
		}
		l.mu.Unlock()
		select {
		case <-l.ring:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// message matches a record by its message.
func message(msg string) func(logged) bool {
	return func(r logged) bool { return r.msg == msg }
}

// loaded matches the engine's record of a load that installed a revision
// other than old.
func loaded(old string) func(logged) bool {
	return func(r logged) bool { return r.msg == "policy: loaded" && r.attrs["revision"] != old }
}

type signalHandler struct {
	slog.Handler
	recs *logRecords
}

func (h *signalHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	h.recs.mu.Lock()
	h.recs.records = append(h.recs.records, logged{msg: r.Message, attrs: attrs})
	h.recs.mu.Unlock()
	select {
	case h.recs.ring <- struct{}{}:
	default:
	}
	return err
}

func (h *signalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &signalHandler{Handler: h.Handler.WithAttrs(as), recs: h.recs}
}

func (h *signalHandler) WithGroup(name string) slog.Handler {
	return &signalHandler{Handler: h.Handler.WithGroup(name), recs: h.recs}
}
