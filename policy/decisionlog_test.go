package policy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/rego"
	"github.com/open-policy-agent/opa/v1/ast"
)

// decide runs one decision through an engine with a decision log and
// returns the parsed log line and the raw log.
func decide(t *testing.T, modules map[string]string, in *Input) (map[string]any, string) {
	t.Helper()
	var out testtools.SyncBuffer
	dl := NewDecisionLog(&out, 16)
	e := newEngine(t, modules, Options{DecisionLog: dl})
	ctx := WithTraceID(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736")
	d := e.Decide(ctx, in)
	if err := dl.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1:\n%s", len(lines), out.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, lines[0])
	}
	if line["decision_id"] != d.ID || line["policy_revision"] != d.Revision {
		t.Errorf("line ids %v/%v, decision %s/%s", line["decision_id"], line["policy_revision"], d.ID, d.Revision)
	}
	return line, lines[0]
}

func TestDecisionLogLine(t *testing.T) {
	t.Parallel()
	line, raw := decide(t, map[string]string{"authz.rego": allowAlice}, callInput("mallory"))
	want := map[string]any{
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "session_id": "s1", "user_sub": "mallory",
		"phase": "call", "method": "tools/call", "target": "notes__read_note", "server": "notes",
		"allow": false, "reasons": []any{"not alice"},
		"masked": []any{"/input/arguments/id", "/input/arguments/password"},
	}
	ignore := cmpopts.IgnoreMapEntries(func(k string, _ any) bool {
		switch k {
		case "time", "decision_id", "policy_revision", "eval_ns", "input":
			return true
		}
		return false
	})
	if diff := cmp.Diff(want, line, ignore); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
	if ns, _ := line["eval_ns"].(float64); ns <= 0 {
		t.Errorf("eval_ns = %v", line["eval_ns"])
	}
	if !strings.Contains(raw, `"time":"20`) {
		t.Errorf("time not RFC 3339: %s", raw)
	}
	in := line["input"].(map[string]any)
	if diff := cmp.Diff(map[string]any{"id": "[masked]", "password": "[masked]"}, in["arguments"]); diff != "" {
		t.Errorf("default masking (-want +got):\n%s", diff)
	}
	if in["user"].(map[string]any)["sub"] != "mallory" || strings.Contains(raw, "hunter2") {
		t.Errorf("input not logged as expected: %s", raw)
	}
}

func TestDecisionLogMaskRule(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mask       string
		wantArgs   any
		wantErased []any
		wantMasked []any
	}{
		"pointer and upsert": {
			mask: `mask contains "/input/arguments/password"
mask contains {"op": "upsert", "path": "/input/arguments/id", "value": "***"} if input.input.arguments.id
mask contains "/input/arguments/absent"`,
			wantArgs:   map[string]any{"id": "***"},
			wantErased: []any{"/input/arguments/password"},
			wantMasked: []any{"/input/arguments/id"},
		},
		"empty set unmasks": {
			mask:     `mask contains "/input/x" if false`,
			wantArgs: map[string]any{"id": "n1", "password": "hunter2"},
		},
		"undefined falls back to default": {
			mask:       `mask := ["/input/arguments"] if input.input.user.sub == "nobody"`,
			wantArgs:   map[string]any{"id": "[masked]", "password": "[masked]"},
			wantMasked: []any{"/input/arguments/id", "/input/arguments/password"},
		},
		"bad pointer falls back to default": {
			mask:       `mask contains "/result/allow"`,
			wantArgs:   map[string]any{"id": "[masked]", "password": "[masked]"},
			wantMasked: []any{"/input/arguments/id", "/input/arguments/password"},
		},
		"whole arguments erased": {
			mask:       `mask contains "/input/arguments"`,
			wantErased: []any{"/input/arguments"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			modules := map[string]string{
				"authz.rego": allowAlice,
				"mask.rego":  "package system.log\n" + tc.mask,
			}
			line, _ := decide(t, modules, callInput("alice"))
			got := map[string]any{"args": line["input"].(map[string]any)["arguments"], "erased": line["erased"], "masked": line["masked"]}
			want := map[string]any{"args": tc.wantArgs, "erased": orNil(tc.wantErased), "masked": orNil(tc.wantMasked)}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("masking (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecisionLogFailureLogged(t *testing.T) {
	t.Parallel()
	line, _ := decide(t, nil, callInput("alice"))
	if line["allow"] != false || line["error"] != "no policy loaded" || line["policy_revision"] != "" {
		t.Errorf("line = %v", line)
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	lines   int
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines += strings.Count(string(p), "\n")
	return len(p), nil
}

func TestDecisionLogDropsAreCounted(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{release: make(chan struct{})}
	dl := NewDecisionLog(w, 1)
	log, logs := testLogger(t)
	e := newEngine(t, map[string]string{"authz.rego": allowAlice}, Options{DecisionLog: dl, Logger: log})
	const n = 50
	for range n {
		e.Decide(context.Background(), callInput("alice"))
	}
	if dl.Dropped() == 0 {
		t.Fatal("Dropped() = 0 with a blocked writer and a queue of 1")
	}
	close(w.release)
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := uint64(w.lines) + dl.Dropped(); got != n {
		t.Errorf("written %d + dropped %d = %d, want %d", w.lines, dl.Dropped(), got, n)
	}
	var warned bool
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		warned = warned || strings.Contains(sc.Text(), `"dropped_total"`)
	}
	if !warned {
		t.Errorf("no warning about drops; log:\n%s", logs)
	}
	e.Decide(context.Background(), callInput("alice")) // after Close: counted, no panic
	if got := uint64(w.lines) + dl.Dropped(); got != n+1 {
		t.Errorf("decision after Close not counted: %d", got)
	}
}

// orNil turns a nil slice into an untyped nil, as JSON decoding leaves it.
func orNil(x []any) any {
	if x == nil {
		return nil
	}
	return x
}

// TestMaskShared: a mask rule is evaluated once per shape of event that
// it reads (the shipped library's: the target and the arguments' names)
// and its result reused, and every line is masked as the rule says for
// that line; a rule that reads argument values is evaluated per value, one
// that reads the whole event or upserts objects shares nothing.
func TestMaskShared(t *testing.T) {
	t.Parallel()
	modules, _, err := rego.Library()
	if err != nil {
		t.Fatal(err)
	}
	lib := loadedEngine(t, modules, diffData(t))
	c := lib.current.Load()
	reads := func(refs []ast.Ref) (out []string) {
		for _, r := range refs {
			out = append(out, r.String())
		}
		return out
	}
	if diff := cmp.Diff([]string{"input.input.prompt", "input.input.tool"}, reads(c.maskReads.paths)); diff != "" {
		t.Errorf("paths the library's mask reads (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"input.input.arguments"}, reads(c.maskReads.keys)); diff != "" {
		t.Errorf("keys the library's mask reads (-want +got):\n%s", diff)
	}

	custom := map[string]struct {
		mask   string
		shared bool
	}{
		"library": {"", true},
		"argument values": {`mask contains "/input/arguments/id" if startswith(input.input.arguments.id, "tok_")
mask contains "/input/arguments/password"`, true},
		"whole event": {`mask contains "/input/arguments/id" if startswith(object.get(input, ["input", "arguments", "id"], ""), "tok_")
mask contains "/input/arguments/password"`, false},
		"object upsert": {`mask contains {"op": "upsert", "path": "/input/arguments/id", "value": {"v": "***"}} if startswith(input.input.arguments.id, "tok_")
mask contains "/input/arguments/password"`, true},
	}
	for name, tc := range custom {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mods := map[string]string{"authz.rego": allowAlice, "mask.rego": "package system.log\n" + tc.mask}
			var data map[string]any
			if name == "library" {
				mods, data = modules, diffData(t)
			}
			var out testtools.SyncBuffer
			dl := NewDecisionLog(&out, 64)
			e := loadedEngine(t, mods, data)
			e.dlog.Store(dl)
			args := []map[string]any{
				{"id": "tok_1", "password": "p1"}, {"id": "plain", "password": "p2"},
				{"id": "tok_2", "password": "p3"}, {"id": "plain", "password": "p4", "extra": "x"},
			}
			for _, a := range args {
				in := libraryInput(PhaseCall, "notes", "write_note")
				in.User.Sub = "alice"
				in.Arguments = a
				e.Decide(context.Background(), in)
			}
			if err := dl.Close(); err != nil {
				t.Fatal(err)
			}
			lines := logLines(t, out.String())
			for i, l := range lines {
				got := l["input"].(map[string]any)["arguments"]
				var want any
				switch name {
				case "library": // keep_arguments keeps id for write_note
					want = map[string]any{"id": args[i]["id"]}
				default:
					w := map[string]any{"id": args[i]["id"]}
					if strings.HasPrefix(args[i]["id"].(string), "tok_") {
						w["id"] = "***"
						if name == "object upsert" {
							w["id"] = map[string]any{"v": "***"}
						} else {
							delete(w, "id")
						}
					}
					if _, ok := args[i]["extra"]; ok {
						w["extra"] = "x"
					}
					want = w
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("line %d arguments (-want +got):\n%s", i, diff)
				}
			}
			c := e.current.Load()
			if shared := c.maskReads != nil; shared != tc.shared {
				t.Errorf("mask results shared: %v, want %v", shared, tc.shared)
			}
			c.masks.mu.Lock()
			n := len(c.masks.m)
			c.masks.mu.Unlock()
			switch {
			case name == "library" && n != 2: // two shapes: {id, password}, {id, password, extra}
				t.Errorf("%d mask results kept for 2 shapes of event", n)
			case name == "argument values" && n != 3: // the ids: tok_1, plain, tok_2
				t.Errorf("%d mask results kept for 3 ids", n)
			case name == "object upsert" && n != 1: // the lines without an upsert, both id plain
				t.Errorf("%d mask results kept, want the 1 without an object upsert", n)
			}
		})
	}
}

// maskedArguments logs a call of write_note with each of args under the
// mask rule mask (the library's when empty) and returns the logged
// arguments, and the policy; shared false turns the sharing of mask
// results off, for a reference.
func maskedArguments(t *testing.T, mask string, shared bool, args []map[string]any) ([]string, *compiled) {
	t.Helper()
	mods := map[string]string{"authz.rego": allowAlice, "mask.rego": "package system.log\n" + mask}
	var data map[string]any
	if mask == "" {
		var err error
		if mods, _, err = rego.Library(); err != nil {
			t.Fatal(err)
		}
		data = diffData(t)
	}
	var out testtools.SyncBuffer
	dl := NewDecisionLog(&out, 1024)
	e := loadedEngine(t, mods, data)
	c := e.current.Load()
	if !shared {
		c.maskReads = nil
	}
	e.dlog.Store(dl)
	for _, a := range args {
		in := libraryInput(PhaseCall, "notes", "write_note")
		in.Arguments = a
		e.Decide(context.Background(), in)
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	var logged []string
	for _, l := range logLines(t, out.String()) {
		b, _ := json.Marshal(l["input"].(map[string]any)["arguments"])
		logged = append(logged, string(b))
	}
	return logged, c
}

// TestMaskSharedFoundInReview: what a review found. The names of
// input.x.y are not those of input.x (a nested object's names decided a
// mask, and a line with a secret got another line's result); a result
// with one pointer per name of a request full of names is not kept; a
// rule that checks a JWT against the clock shares nothing.
func TestMaskSharedFoundInReview(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		mask   string
		args   []map[string]any
		shared bool
		kept   int
	}{
		"nested names": {
			mask: `mask contains "/input/arguments/id" if {
	object.keys(input.input.arguments)
	"secret" in object.keys(input.input.arguments.id)
}`,
			args:   []map[string]any{{"id": map[string]any{"public": "x"}}, {"id": map[string]any{"secret": "hunter2"}}},
			shared: true, kept: 2,
		},
		"many names": {
			args:   []map[string]any{manyNames(300), manyNames(300)},
			shared: true, kept: 0,
		},
		"jwt against the clock": {
			mask:   `mask contains "/input/arguments/id" if { [valid, _, _] := io.jwt.decode_verify(input.input.arguments.id, {"secret": "k"}); not valid }`,
			args:   []map[string]any{{"id": "a"}, {"id": "b"}},
			shared: false,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, c := maskedArguments(t, tc.mask, true, tc.args)
			want, _ := maskedArguments(t, tc.mask, false, tc.args)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("logged arguments (-unshared +shared):\n%s", diff)
			}
			if shared := c.maskReads != nil; shared != tc.shared {
				t.Fatalf("mask results shared: %v, want %v", shared, tc.shared)
			}
			c.masks.mu.Lock()
			defer c.masks.mu.Unlock()
			if tc.shared && len(c.masks.m) != tc.kept {
				t.Errorf("%d mask results kept, want %d", len(c.masks.m), tc.kept)
			}
		})
	}
}

func manyNames(n int) map[string]any {
	args := map[string]any{"id": "n1"}
	for i := range n {
		args[fmt.Sprintf("name-%04d-%s", i, strings.Repeat("x", 40))] = "v"
	}
	return args
}

// With BlockWhenFull a full queue holds the decision (and its request)
// until there is room: a slow sink loses no line, every decision is
// written; past the bound, a decision is dropped and counted.
func TestDecisionLogBlocksWhenFull(t *testing.T) {
	t.Parallel()
	w := &enteredWriter{entered: make(chan struct{}), release: make(chan struct{})}
	dl := NewDecisionLog(w, 1)
	dl.BlockWhenFull(time.Minute)
	e := newEngine(t, map[string]string{"authz.rego": allowAlice}, Options{DecisionLog: dl})
	e.Decide(context.Background(), callInput("alice"))
	<-w.entered // the log's goroutine is stuck writing
	const n = 20
	decided := make(chan struct{})
	go func() {
		defer close(decided)
		for range n {
			e.Decide(context.Background(), callInput("alice"))
		}
	}()
	select {
	case <-decided:
		t.Fatal("every decision returned with the sink stuck and a queue of 1")
	case <-time.After(200 * time.Millisecond): // they wait for the sink
	}
	close(w.release)
	<-decided
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.count(); got != n+1 || dl.Dropped() != 0 {
		t.Errorf("written %d, dropped %d; want %d written, none dropped", got, dl.Dropped(), n+1)
	}

	stuck := &enteredWriter{entered: make(chan struct{}), release: make(chan struct{})}
	defer close(stuck.release)
	bounded := NewDecisionLog(stuck, 1)
	bounded.BlockWhenFull(50 * time.Millisecond)
	e = newEngine(t, map[string]string{"authz.rego": allowAlice}, Options{DecisionLog: bounded})
	e.Decide(context.Background(), callInput("alice"))
	<-stuck.entered
	for range 5 {
		e.Decide(context.Background(), callInput("alice"))
	}
	if bounded.Dropped() == 0 {
		t.Error("a sink stuck past the bound dropped nothing")
	}
}

// With BlockWhenFull and a stuck sink, the bound is paid once: after a
// wait ran out, decisions are dropped at once until the queue empties (a
// list decided entry by entry would otherwise wait the bound per entry;
// found in review).
func TestDecisionLogBlockBoundPaidOnce(t *testing.T) {
	stuck := &enteredWriter{entered: make(chan struct{}), release: make(chan struct{})}
	defer close(stuck.release)
	dl := NewDecisionLog(stuck, 1)
	dl.BlockWhenFull(time.Second)
	e := newEngine(t, map[string]string{"authz.rego": allowAlice}, Options{DecisionLog: dl})
	e.Decide(context.Background(), callInput("alice"))
	<-stuck.entered // the log's goroutine is stuck writing it
	// One fills the queue, the next waits the bound.
	for range 2 {
		e.Decide(context.Background(), callInput("alice"))
	}
	var entries []ListEntry
	for i := range 40 {
		entries = append(entries, ListEntry{Server: &Server{Name: "notes"}, Tool: &Tool{Name: fmt.Sprintf("notes__t%d", i), UpstreamName: "t", Server: "notes"}})
	}
	listed := make(chan struct{})
	go func() {
		e.DecideList(context.Background(), &Input{Phase: PhaseList, Method: "tools/list", User: User{Sub: "alice"}}, NewListCatalog(entries))
		close(listed)
	}()
	select {
	case <-listed:
	case <-time.After(10 * time.Second): // 40 waits of 1 s each would be 40 s
		t.Fatal("a list of 40 entries waits the bound per entry")
	}
	if dl.Dropped() < 30 {
		t.Errorf("dropped %d, want every decision after the wait that ran out", dl.Dropped())
	}
}

// Close ends the waits of BlockWhenFull: a decision waiting for room when
// shutdown begins is dropped and counted at once, not after the bound
// (found in review: Close's lock waited for it, and new decisions for
// Close).
func TestDecisionLogCloseEndsWaits(t *testing.T) {
	stuck := &enteredWriter{entered: make(chan struct{}), release: make(chan struct{})}
	dl := NewDecisionLog(stuck, 1)
	dl.BlockWhenFull(time.Hour)
	e := newEngine(t, map[string]string{"authz.rego": allowAlice}, Options{DecisionLog: dl})
	e.Decide(context.Background(), callInput("alice"))
	<-stuck.entered                                    // the log's goroutine is stuck writing it
	e.Decide(context.Background(), callInput("alice")) // fills the queue
	waiting := make(chan struct{})
	go func() {
		e.Decide(context.Background(), callInput("alice")) // waits for room
		close(waiting)
	}()
	closed := make(chan error, 1)
	go func() { closed <- dl.Close() }()
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("a decision waiting for room outlived the start of Close")
	}
	close(stuck.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if dl.Dropped() != 1 {
		t.Errorf("dropped %d, want the one that waited", dl.Dropped())
	}
}

// enteredWriter blocks every write until release, and says when the first
// one began.
type enteredWriter struct {
	entered, release chan struct{}
	once             sync.Once
	mu               sync.Mutex
	lines            int
}

func (w *enteredWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	w.lines += strings.Count(string(p), "\n")
	w.mu.Unlock()
	return len(p), nil
}

func (w *enteredWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// A sink stuck for good (a pipe nobody reads) does not hang Close: past
// its bound Close gives up, says how many lines were not written and to
// which sink, and counts them as dropped, so that the lines written and
// the decisions dropped still add up to the decisions made; in both modes
// of a full queue.
func TestDecisionLogCloseGivesUpOnStuckSink(t *testing.T) {
	for _, block := range []bool{false, true} {
		t.Run(fmt.Sprintf("block=%v", block), func(t *testing.T) {
			t.Parallel()
			r, w := io.Pipe() // a real writer that blocks until read
			defer r.Close()
			dl := NewDecisionLog(w, 2)
			dl.closeWithin = 100 * time.Millisecond
			if block {
				dl.BlockWhenFull(time.Hour)
			}
			log, logs := testLogger(t)
			e := newEngine(t, map[string]string{"authz.rego": allowAlice}, Options{DecisionLog: dl, Logger: log})
			e.Decide(context.Background(), callInput("alice"))
			// The first line reaches the reader; nothing after it is read.
			if _, err := bufio.NewReader(r).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			decided := 1
			for range 3 { // one the sink is stuck on, two queued
				e.Decide(context.Background(), callInput("alice"))
				decided++
			}
			waited := make(chan struct{})
			if block { // the queue is full: this one waits for room until Close
				decided++
				go func() { e.Decide(context.Background(), callInput("alice")); close(waited) }()
			} else {
				close(waited)
			}
			droppedBefore := dl.Dropped()
			closed := make(chan error, 1)
			go func() { closed <- dl.Close() }()
			var err error
			select {
			case err = <-closed:
			case <-time.After(time.Minute):
				t.Fatal("Close hangs while its sink is stuck")
			}
			<-waited
			if err == nil {
				t.Fatal("Close returned no error though lines were not written")
			}
			var notWritten uint64
			if m := regexp.MustCompile(`(\d+) decision lines were not written`).FindStringSubmatch(err.Error()); m != nil {
				notWritten, _ = strconv.ParseUint(m[1], 10, 64)
			}
			// In block mode the one that waited for room may have been
			// dropped by the start of Close, not counted in the error.
			if notWritten == 0 || droppedBefore+notWritten > dl.Dropped() || !strings.Contains(err.Error(), "*io.PipeWriter") {
				t.Errorf("Close: %v; want it to say how many lines (dropped %d before Close, %d after) and name the sink", err, droppedBefore, dl.Dropped())
			}
			if got := 1 + dl.Dropped(); got != uint64(decided) {
				t.Errorf("1 line written + %d dropped = %d, want the %d decisions made", dl.Dropped(), got, decided)
			}
			if !strings.Contains(logs.String(), `"dropped_total"`) {
				t.Errorf("no warning about the lines not written; log:\n%s", logs)
			}
			if err2 := dl.Close(); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("second Close: %v, want the first one's %v", err2, err)
			}
		})
	}
}
