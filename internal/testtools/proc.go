package testtools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// StartTimeout bounds how long a started server may take to accept TCP
// connections.
const StartTimeout = 30 * time.Second

// SyncBuffer is a bytes.Buffer that several goroutines may write to (log
// handlers, a process's stdout and stderr) while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *SyncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *SyncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Proc is a started process, in its own process group.
type Proc struct {
	name string
	cmd  *exec.Cmd
	out  *SyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid once done is closed
}

// StartProc starts cmd in a new process group, collecting its stdout and
// stderr, and registers a cleanup that kills the whole group (SIGTERM, then
// SIGKILL after a grace period) and logs the output if the test failed.
func StartProc(t testing.TB, name string, cmd *exec.Cmd) (*Proc, error) {
	t.Helper()
	p := &Proc{name: name, cmd: cmd, out: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	setProcAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("output of %s (%v):\n%s", name, cmd.Args, p.out.String())
		}
	})
	return p, nil
}

// Stop kills the process group and waits for the process to exit.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		killGroup(p.cmd, true) // the leader is gone; reap any children left
		return
	default:
	}
	killGroup(p.cmd, false)
	select {
	case <-p.done:
		killGroup(p.cmd, true)
	case <-time.After(5 * time.Second):
		killGroup(p.cmd, true)
		<-p.done
	}
}

// waitListening polls addr until it accepts a TCP connection, the process
// exits, or StartTimeout passes.
func (p *Proc) waitListening(addr string) error {
	deadline := time.Now().Add(StartTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before listening on %s: %v\noutput:\n%s", p.name, addr, p.err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %v: %v\noutput:\n%s", p.name, addr, StartTimeout, err, p.out.String())
		}
		select {
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// FreeAddr returns "127.0.0.1:PORT" for a port that was free a moment ago.
// Another process may take it before it is used: the Start* helpers retry
// on a new port when their server fails to listen.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("FreeAddr: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startListening starts the command that mk builds for a fresh loopback
// address and waits until it listens, trying up to three addresses in case
// a port was taken between FreeAddr and the server's bind.
func startListening(t testing.TB, name string, mk func(addr string) *exec.Cmd) (string, *Proc) {
	t.Helper()
	var errs []error
	for range 3 {
		addr := FreeAddr(t)
		p, err := StartProc(t, name, mk(addr))
		if err != nil {
			t.Fatal(err)
		}
		if err = p.waitListening(addr); err == nil {
			return addr, p
		}
		p.Stop()
		errs = append(errs, err)
		select {
		case <-p.done:
			continue // it died (port taken?): try another port
		default:
			t.Fatal(errors.Join(errs...))
		}
	}
	t.Fatal(errors.Join(errs...))
	return "", nil
}

// CommandContext is exec.CommandContext whose cancellation kills the whole
// process group rather than only the leader.
func CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error {
		killGroup(cmd, true)
		return nil
	}
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// Name is the name the process was started with.
func (p *Proc) Name() string { return p.name }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for exit status 0), valid once Done
// is closed.
func (p *Proc) Err() error { return p.err }

// Output returns what the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// StartListening starts the server command mk builds for a free loopback
// address, in its own process group, waits until it accepts connections and
// returns the address. The process is killed when the test ends, and its
// output is logged if the test failed.
func StartListening(t testing.TB, name string, mk func(addr string) *exec.Cmd) string {
	t.Helper()
	addr, _ := startListening(t, name, mk)
	return addr
}

// Server is a server process started by StartServer.
type Server struct {
	Addr string // the loopback address it listens on
	p    *Proc
}

// StartServer is StartListening returning a handle, for tests that stop
// the server themselves or read its output.
func StartServer(t testing.TB, name string, mk func(addr string) *exec.Cmd) *Server {
	t.Helper()
	addr, p := startListening(t, name, mk)
	return &Server{Addr: addr, p: p}
}

// StartServerAt is StartServer on a given loopback address, tried once:
// for a server whose address others must know before it starts (an
// identity provider's redirect URI names it), or that restarts on the
// address it had. Take addr from FreeAddr; cmd must make the server listen
// there.
func StartServerAt(t testing.TB, name, addr string, cmd *exec.Cmd) *Server {
	t.Helper()
	p, err := StartProc(t, name, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.waitListening(addr); err != nil {
		p.Stop()
		t.Fatal(err)
	}
	return &Server{Addr: addr, p: p}
}

// Signal sends sig to the server process (not its group).
func (s *Server) Signal(sig os.Signal) error { return s.p.cmd.Process.Signal(sig) }

// Wait waits until the process exits or ctx ends, and returns its exit
// error (nil for exit status 0).
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-s.p.done:
		return s.p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Output returns what the process wrote to stdout and stderr so far.
func (s *Server) Output() string { return s.p.Output() }
