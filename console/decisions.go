package console

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
)

// maxRows bounds the decisions the table shows; the chart counts all
// those that match.
const maxRows = 200

// decisionFilter is the Decisions page's filter: every field set must
// match (user, server and tool as substrings, case-insensitively).
type decisionFilter struct {
	User, Server, Tool, Outcome, Trace string
}

func (f decisionFilter) matches(d *policy.RecentDecision) bool {
	has := func(s, sub string) bool {
		return sub == "" || strings.Contains(strings.ToLower(s), strings.ToLower(sub))
	}
	switch {
	case !has(d.UserSub, f.User), !has(d.Server, f.Server), !has(d.Target, f.Tool):
		return false
	case f.Outcome == "allowed" && !d.Allow, f.Outcome == "denied" && d.Allow:
		return false
	case f.Trace != "" && d.TraceID != f.Trace:
		return false
	}
	return true
}

type decisionsContent struct {
	Filter   decisionFilter
	Size     int
	Total    uint64
	Matching int
	Rows     []policy.RecentDecision
	Charts   []chart
}

// decisions lists the latest decisions that match the filter, and charts
// them per server over time.
func (c *Console) decisions(w http.ResponseWriter, r *http.Request, _ *authn.Identity) {
	f := decisionFilter{User: r.FormValue("user"), Server: r.FormValue("server"), Tool: r.FormValue("tool"),
		Outcome: r.FormValue("outcome"), Trace: r.FormValue("trace")}
	for _, v := range []*string{&f.User, &f.Server, &f.Tool, &f.Outcome, &f.Trace} {
		if len(*v) > maxField {
			*v = (*v)[:maxField]
		}
	}
	all, total := c.opts.Recent.Snapshot()
	content := decisionsContent{Filter: f, Size: c.opts.Recent.Size(), Total: total}
	var matching []policy.RecentDecision
	for i := range all {
		if f.matches(&all[i]) {
			matching = append(matching, all[i])
		}
	}
	content.Matching = len(matching)
	content.Rows = matching[:min(len(matching), maxRows)]
	content.Charts = charts(matching)
	c.render(w, r, http.StatusOK, "decisions", "Decisions", content)
}

// noServer names the chart of the decisions that name no server
// (initialize, whole lists, grants, registrations, the console).
const noServer = "(no server)"

// Chart geometry, in SVG user units.
const (
	chartWidth  = 360
	chartHeight = 90
	chartBars   = 30
)

// chart is one server's allowed and denied decisions over time, as bars.
type chart struct {
	ID, Server      string
	Width, Height   int
	Base            int
	From, To        time.Time
	Step            time.Duration
	Allowed, Denied int
	Bars            []bar
}

// bar is one time step: allowed stacked on denied.
type bar struct {
	X, W, AllowY, AllowH, DenyY, DenyH int
}

// charts draws the decisions (newest first), one chart per server (the
// decisions of no server, such as initialize or console ones, under
// noServer),
// all over the same span.
func charts(ds []policy.RecentDecision) []chart {
	if len(ds) == 0 {
		return nil
	}
	// A fixed axis of chartBars steps that ends with the newest decision:
	// a short span draws narrow bars at its end, not one wide block.
	// Decisions are kept in the order they were settled, which is not
	// quite the order of their times: concurrent ones may swap.
	from, to := ds[0].Time, ds[0].Time
	for i := range ds {
		from, to = minTime(from, ds[i].Time), maxTime(to, ds[i].Time)
	}
	step := stepFor(to.Sub(from))
	n := chartBars
	from = to.Truncate(step).Add(-time.Duration(n-1) * step)
	type counts struct{ allow, deny []int }
	per := map[string]*counts{}
	for i := range ds {
		d := &ds[i]
		k := int(d.Time.Sub(from) / step)
		if k < 0 || k >= n {
			continue // older than the bars shown
		}
		server := cmp.Or(d.Server, noServer)
		cs := per[server]
		if cs == nil {
			cs = &counts{make([]int, n), make([]int, n)}
			per[server] = cs
		}
		if d.Allow {
			cs.allow[k]++
		} else {
			cs.deny[k]++
		}
	}
	servers := make([]string, 0, len(per))
	for s := range per {
		servers = append(servers, s)
	}
	slices.Sort(servers)
	var out []chart
	for i, s := range servers {
		out = append(out, drawChart(i, s, per[s].allow, per[s].deny, from, from.Add(time.Duration(n)*step), step))
	}
	return out
}

// stepFor is the bar width for a span: a whole number of seconds or
// minutes that fits the span in chartBars bars.
func stepFor(span time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
		5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 6 * time.Hour} {
		if span < s*chartBars {
			return s
		}
	}
	return 24 * time.Hour
}

func drawChart(i int, server string, allow, deny []int, from, to time.Time, step time.Duration) chart {
	c := chart{ID: "c" + strconv.Itoa(i), Server: server, Width: chartWidth, Height: chartHeight, Base: chartHeight - 1, From: from, To: to, Step: step}
	peak := 1
	for k := range allow {
		peak = max(peak, allow[k]+deny[k])
		c.Allowed += allow[k]
		c.Denied += deny[k]
	}
	w := chartWidth / len(allow)
	for k := range allow {
		b := bar{X: k * w, W: max(w-2, 1)}
		b.DenyH = deny[k] * (chartHeight - 2) / peak
		b.AllowH = allow[k] * (chartHeight - 2) / peak
		if deny[k] > 0 && b.DenyH == 0 {
			b.DenyH = 1
		}
		if allow[k] > 0 && b.AllowH == 0 {
			b.AllowH = 1
		}
		b.DenyY = c.Base - b.DenyH
		b.AllowY = b.DenyY - b.AllowH
		c.Bars = append(c.Bars, b)
	}
	return c
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
