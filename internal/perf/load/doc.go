// Package load drives tools/call load at any MCP endpoint over go-sdk client
// sessions and summarises it: throughput, latency percentiles and errors by
// kind. It owns the load generator behind cmd/mcpload and the side-by-side
// program (internal/perf/sidebyside); it must not import mcpgate's own
// packages, so that it measures mcpgate only from the outside.
//
// Two modes. Closed loop (Rate zero): each worker sends its next call when
// the previous one returns, so the load adapts to the server. Fixed rate
// (Rate > 0): calls are scheduled at start + i/Rate, and a call's latency is
// measured from its intended send time, not from when a busy worker got to
// send it; a stall therefore shows in the latencies of every call it
// delayed (no coordinated omission, as in wrk2).
package load
