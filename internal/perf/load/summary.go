package load

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

type jsonrpcError = jsonrpc.Error

// Summary is the outcome of a measured run; its JSON form is what
// cmd/mcpload prints.
type Summary struct {
	URL             string  `json:"url"`
	ProtocolVersion string  `json:"protocol_version"`
	Tool            string  `json:"tool"` // the tools, comma-separated
	Mode            string  `json:"mode"` // "closed-loop" or "fixed-rate"
	Rate            float64 `json:"rate,omitempty"`
	Sessions        int     `json:"sessions"`
	Concurrency     int     `json:"concurrency"`
	// Calls is the number of calls sent (successful and failed).
	Calls int `json:"calls"`
	// OK is the number of successful calls; the latencies are theirs.
	OK int `json:"ok"`
	// Errors counts failed calls by kind (see errorKind).
	Errors map[string]int `json:"errors"`
	// Unsent counts fixed-rate slots never sent before the hard stop.
	Unsent int `json:"unsent,omitempty"`
	// ElapsedSeconds runs from the start of the measured run to the end
	// of its last call.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Throughput is OK calls per elapsed second.
	Throughput float64 `json:"throughput_per_second"`
	Latency    Latency `json:"latency_ms"`
}

// Latency holds percentiles of the successful calls' latencies, in
// milliseconds (nearest rank).
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func (r *runner) summarize(workers []*worker, elapsed time.Duration) *Summary {
	s := &Summary{
		URL: r.cfg.URL, ProtocolVersion: r.cfg.ProtocolVersion, Tool: strings.Join(r.cfg.Tools, ","), Mode: "closed-loop",
		Sessions: len(r.sessions), Concurrency: r.cfg.Concurrency, Errors: map[string]int{},
		ElapsedSeconds: elapsed.Seconds(),
	}
	if r.cfg.Rate > 0 {
		s.Mode, s.Rate = "fixed-rate", r.cfg.Rate
	}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.latencies...)
		for k, n := range w.errors {
			s.Errors[k] += n
			s.Calls += n
		}
		s.Unsent += w.unsent
	}
	s.OK = len(all)
	s.Calls += s.OK
	if elapsed > 0 {
		s.Throughput = float64(s.OK) / elapsed.Seconds()
	}
	s.Latency = percentiles(all)
	return s
}

// percentiles sorts d and returns its percentiles.
func percentiles(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Latency{
		P50: ms(Rank(d, 0.50)), P90: ms(Rank(d, 0.90)), P99: ms(Rank(d, 0.99)),
		Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d))),
	}
}

// rank is the nearest-rank percentile p of the sorted d.
// Rank is the nearest-rank p-quantile of d, which is sorted and not empty.
func Rank(d []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(float64(len(d))*p)) - 1
	return d[max(0, min(i, len(d)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ErrorKinds returns the kinds in s.Errors, sorted.
func (s *Summary) ErrorKinds() []string { return slices.Sorted(maps.Keys(s.Errors)) }
