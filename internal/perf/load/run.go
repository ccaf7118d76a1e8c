package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Run connects cfg.Sessions client sessions, runs the warmup, then the
// measured load, and returns its summary. Failed calls are counted by kind,
// not returned: Run fails only when it cannot start (bad config, a session
// that does not connect) or ctx ends first. Before it returns, it closes
// its sessions and connections.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("load: config: %w", err)
	}
	clients, transport := cfg.httpClients()
	defer transport.CloseIdleConnections()
	sessions, err := connect(ctx, cfg, clients)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	r := &runner{cfg: cfg, sessions: sessions}
	if cfg.Warmup > 0 {
		warm := &runner{cfg: cfg, sessions: sessions}
		warm.cfg.Count, warm.cfg.Duration, warm.cfg.Rate, warm.cfg.Progress, warm.cfg.OnMeasure = 0, cfg.Warmup, 0, nil, nil
		warm.run(ctx)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return r.run(ctx), nil
}

// connect opens cfg.Sessions sessions and checks that each negotiated the
// protocol version asked for.
func connect(ctx context.Context, cfg Config, clients []*http.Client) ([]*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpload", Version: "1"}, nil)
	var sessions []*mcp.ClientSession
	for i := range cfg.Sessions {
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		cs, err := client.Connect(cctx, &mcp.StreamableClientTransport{Endpoint: cfg.URL, HTTPClient: clients[i%len(clients)]},
			&mcp.ClientSessionOptions{ProtocolVersion: cfg.ProtocolVersion})
		cancel()
		if err == nil && cs.InitializeResult().ProtocolVersion != cfg.ProtocolVersion {
			cs.Close()
			err = fmt.Errorf("negotiated protocol %s, not %s", cs.InitializeResult().ProtocolVersion, cfg.ProtocolVersion)
		}
		if err != nil {
			for _, s := range sessions {
				s.Close()
			}
			return nil, fmt.Errorf("load: connect session %d to %s: %w", i+1, cfg.URL, err)
		}
		sessions = append(sessions, cs)
	}
	return sessions, nil
}

// runner runs one phase (warmup or measured) of a load.
type runner struct {
	cfg      Config
	sessions []*mcp.ClientSession

	next  atomic.Int64 // the next call (closed loop with Count) or slot (fixed rate) to claim
	done  atomic.Int64 // calls finished, failed ones included
	fails atomic.Int64
}

// worker is one worker's record of its calls.
type worker struct {
	latencies []time.Duration // of successful calls
	errors    map[string]int
	unsent    int
	calls     int // made so far, which picks the next tool
}

func (r *runner) run(ctx context.Context) *Summary {
	if r.cfg.OnMeasure != nil {
		r.cfg.OnMeasure(true)
	}
	start := time.Now()
	stop := r.startProgress(start)
	workers := make([]*worker, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{errors: map[string]int{}}
		wg.Go(func() {
			cs := r.sessions[i%len(r.sessions)]
			if r.cfg.Rate > 0 {
				r.fixedRate(ctx, cs, start, workers[i])
			} else {
				r.closedLoop(ctx, cs, start, workers[i])
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if r.cfg.OnMeasure != nil {
		r.cfg.OnMeasure(false)
	}
	stop()
	return r.summarize(workers, elapsed)
}

// closedLoop sends calls back to back until Count calls are claimed or
// Duration has passed.
func (r *runner) closedLoop(ctx context.Context, cs *mcp.ClientSession, start time.Time, w *worker) {
	end := start.Add(r.cfg.Duration)
	for ctx.Err() == nil {
		if r.cfg.Count > 0 {
			if r.next.Add(1) > int64(r.cfg.Count) {
				return
			}
		} else if !time.Now().Before(end) {
			return
		}
		t0 := time.Now()
		r.call(ctx, cs, w, t0)
	}
}

// slots is the length of the fixed-rate schedule.
func (r *runner) slots() int64 {
	if r.cfg.Count > 0 {
		return int64(r.cfg.Count)
	}
	return int64(r.cfg.Rate * r.cfg.Duration.Seconds())
}

// fixedRate claims slots of the schedule in order and sends each at its
// intended time, or at once if the worker is already late for it; the
// latency runs from the intended time. Slots not started before the hard
// stop (the schedule's end plus one call timeout) are counted as unsent.
func (r *runner) fixedRate(ctx context.Context, cs *mcp.ClientSession, start time.Time, w *worker) {
	interval := float64(time.Second) / r.cfg.Rate
	n := r.slots()
	hardStop := start.Add(time.Duration(float64(n)*interval) + r.cfg.Timeout)
	for {
		i := r.next.Add(1) - 1
		if i >= n {
			return
		}
		intended := start.Add(time.Duration(float64(i) * interval))
		if wait := time.Until(intended); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil || time.Now().After(hardStop) {
			w.unsent++
			continue
		}
		r.call(ctx, cs, w, intended)
	}
}

// call makes one call and records its outcome, its latency counted from t0.
func (r *runner) call(ctx context.Context, cs *mcp.ClientSession, w *worker, t0 time.Time) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	// Params of their own per call: the SDK writes into them (_meta).
	tool := r.cfg.Tools[w.calls%len(r.cfg.Tools)]
	w.calls++
	res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: tool, Arguments: r.cfg.Arguments})
	cancel()
	lat := time.Since(t0)
	r.done.Add(1)
	if kind := errorKind(res, err); kind != "" {
		r.fails.Add(1)
		w.errors[kind]++
		return
	}
	w.latencies = append(w.latencies, lat)
}

// errorKind names a failed call's kind of failure, or "" for success:
// "tool_error" (a result with isError), "jsonrpc <code>", "timeout",
// "canceled" or "transport".
func errorKind(res *mcp.CallToolResult, err error) string {
	var rpcErr *jsonrpcError
	switch {
	case err == nil && res != nil && res.IsError:
		return "tool_error"
	case err == nil:
		return ""
	case errors.As(err, &rpcErr):
		return fmt.Sprintf("jsonrpc %d", rpcErr.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "transport"
	}
}

// startProgress prints a progress line to cfg.Progress once a second until
// the returned stop is called.
func (r *runner) startProgress(start time.Time) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				done := r.done.Load()
				fmt.Fprintf(r.cfg.Progress, "mcpload: %4.0fs  %d calls  %d/s  %d errors\n",
					now.Sub(start).Seconds(), done, done-last, r.fails.Load())
				last = done
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}
