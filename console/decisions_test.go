package console

import (
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/policy"
)

func TestCharts(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	// Newest first, as Recent.Snapshot returns them: two minutes of
	// notes (3 allowed, 1 denied) and one initialize decision.
	ds := []policy.RecentDecision{
		{Time: at.Add(2 * time.Minute), Server: "notes", Allow: false},
		{Time: at.Add(2 * time.Minute), Server: "notes", Allow: true},
		{Time: at.Add(time.Minute), Server: "", Allow: true},
		{Time: at, Server: "notes", Allow: true},
		{Time: at, Server: "notes", Allow: true},
	}
	cs := charts(ds)
	if len(cs) != 2 || cs[0].Server != noServer || cs[1].Server != "notes" {
		t.Fatalf("charts = %+v, want (no server) and notes", cs)
	}
	notes := cs[1]
	if notes.Allowed != 3 || notes.Denied != 1 || notes.Step != 5*time.Second || len(notes.Bars) != chartBars {
		t.Fatalf("notes: %d allowed, %d denied, step %s, %d bars", notes.Allowed, notes.Denied, notes.Step, len(notes.Bars))
	}
	// The axis ends with the newest decision: 10:00:00 and 10:02:00 are
	// 24 steps of 5 s apart, the highest bar (two decisions) is the
	// chart's full height, the last stacks one allowed on one denied.
	first, last := notes.Bars[chartBars-25], notes.Bars[chartBars-1]
	if first.AllowH != chartHeight-2 || first.DenyH != 0 || last.AllowH != last.DenyH || last.DenyY != notes.Base-last.DenyH || last.AllowY != last.DenyY-last.AllowH {
		t.Errorf("bars: first %+v, last %+v", first, last)
	}
	if !notes.To.After(ds[0].Time) || notes.From.After(ds[len(ds)-1].Time) {
		t.Errorf("span %s–%s does not hold the decisions", notes.From, notes.To)
	}
	// Concurrent decisions may be kept out of the order of their times:
	// the axis still ends with the newest, and every one is drawn.
	swapped := []policy.RecentDecision{{Time: at, Server: "notes", Allow: true}, {Time: at.Add(3 * time.Second), Server: "notes"}}
	if c := charts(swapped)[0]; c.Allowed != 1 || c.Denied != 1 || !c.To.After(at.Add(3*time.Second)) {
		t.Errorf("decisions out of time order: %d allowed, %d denied, to %s", c.Allowed, c.Denied, c.To)
	}
	if charts(nil) != nil {
		t.Error("charts of nothing")
	}
	// A day of decisions: at most chartBars bars, the oldest cut.
	long := []policy.RecentDecision{{Time: at.Add(24 * time.Hour), Server: "hr", Allow: true}, {Time: at, Server: "hr"}}
	if c := charts(long)[0]; len(c.Bars) > chartBars || c.Allowed+c.Denied == 0 {
		t.Errorf("a day: %d bars, %d decisions drawn", len(c.Bars), c.Allowed+c.Denied)
	}
}

func TestDecisionFilter(t *testing.T) {
	t.Parallel()
	d := &policy.RecentDecision{UserSub: "Bob", Server: "notes", Target: "notes__read_note", Allow: false, TraceID: "abc"}
	for f, want := range map[decisionFilter]bool{
		{}:                       true,
		{User: "bob"}:            true,
		{User: "alice"}:          false,
		{Server: "NOT"}:          true,
		{Tool: "write"}:          false,
		{Outcome: "denied"}:      true,
		{Outcome: "allowed"}:     false,
		{Trace: "abc"}:           true,
		{Trace: "ab"}:            false,
		{User: "bob", Tool: "x"}: false,
	} {
		if got := f.matches(d); got != want {
			t.Errorf("%+v matches = %v, want %v", f, got, want)
		}
	}
}
