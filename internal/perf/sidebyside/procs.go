//go:build linux

package sidebyside

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startTimeout bounds how long a started server may take to listen.
const startTimeout = 60 * time.Second

// proc is a started server process, leader of its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	url  string // its base URL, once it listens
}

// start starts cmd in a new process group that dies with this program,
// its output appended to logFile.
func start(name string, cmd *exec.Cmd, log io.Writer) (*proc, error) {
	if cmd.Stdout == nil {
		cmd.Stdout = log
	}
	cmd.Stderr = log
	cmd.SysProcAttr = procAttrs()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// startAnnouncing starts one of this program's own hidden subcommands,
// which prints "listening URL" as its first line, and returns once it has.
func startAnnouncing(name string, args []string, log io.Writer) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(self, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p, err := start(name, cmd, log)
	if err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(log, out)
	}()
	select {
	case l, ok := <-line:
		if u, found := strings.CutPrefix(l, "listening "); ok && found {
			p.url = u
			return p, nil
		}
		p.stop()
		return nil, fmt.Errorf("start %s: first line %q, want \"listening URL\"", name, l)
	case <-time.After(startTimeout):
		p.stop()
		return nil, fmt.Errorf("start %s: not listening after %v", name, startTimeout)
	}
}

// waitListening polls addr until it accepts a connection, the process
// exits or startTimeout passes.
func (p *proc) waitListening(addr string) error {
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before listening on %s (see its log)", p.name, addr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %v: %v", p.name, addr, startTimeout, err)
		}
	}
}

// stop kills the process group: SIGTERM, then SIGKILL after 5 s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done: // stopped already: its process group may be another's by now
		return
	default:
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	<-p.done
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime is the user+system CPU time the process has used, all its
// threads included, from /proc/PID/stat (a resolution of 10 ms).
func (p *proc) cpuTime() (time.Duration, error) {
	if p == nil {
		return 0, nil
	}
	return cpuTimeOf(p.cmd.Process.Pid)
}

func cpuTimeOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	return parseStat(string(b))
}

// parseStat reads utime and stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name (field 2) is in parentheses and may hold spaces
// and parentheses itself, so fields are counted after its last ')'.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("cpu time: /proc stat line without ')'")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time: /proc stat line has %d fields after the name, want ≥ 13", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] { // utime, stime: fields 14, 15 of the line
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("cpu time: /proc stat field %q: not a tick count", v)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
