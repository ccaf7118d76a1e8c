//go:build unix

package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/policy"
)

// A decision log whose file is a FIFO nobody reads (its reader is open and
// never reads: a stuck sink) does not hang shutdown: closing it gives up
// after its bound and logs, at ERROR, how many lines were not written and
// to which file.
func TestDecisionLogStuckFIFOClosesAndSays(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "decisions.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	reader, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close() // never read
	var logs testtools.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	dl, closeLog, err := decisionLog(config.Policy{DecisionLog: fifo, DecisionLogBuffer: 1000}, io.Discard, log)
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(policy.Options{DecisionLog: dl, Logger: log})
	big := strings.Repeat("x", 2000)
	for range 200 { // ~400 KB of lines: more than the pipe and the log's buffer hold
		e.Decide(context.Background(), &policy.Input{Phase: policy.PhaseCall, Method: "tools/call", User: policy.User{Sub: "alice"},
			Tool: &policy.Tool{Name: "notes__write_note", UpstreamName: "write_note", Server: "notes"}, Arguments: map[string]any{"text": big}})
	}
	closed := make(chan struct{})
	go func() { closeLog(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("closing the decision log hangs while its FIFO is not read")
	}
	out := logs.String()
	if !strings.Contains(out, `"level":"ERROR"`) || !strings.Contains(out, "decision lines were not written") || !strings.Contains(out, fifo) {
		t.Errorf("no error naming the lines not written and the FIFO; log:\n%s", out)
	}
	if dl.Dropped() == 0 {
		t.Error("the lines not written are not counted as dropped")
	}
}
