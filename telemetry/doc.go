// Package telemetry owns mcpgate's observability plumbing: the OpenTelemetry
// tracer and meter providers built from the standard OTEL_* environment
// variables (via autoexport) or their config-file equivalents, the
// Prometheus /metrics handler, the W3C trace-context propagation over MCP
// params._meta, the slog handler that stamps trace_id and span_id on log
// records, and the single set of metric instruments the gateway records into.
//
// What it must not do: import any other mcpgate package, decide policy,
// read request payloads, or install process-wide globals (otel.Set*,
// slog.SetDefault); wiring globals is the job of cmd/mcpgate. Metric
// attributes are bounded by construction: user identities never become
// metric attributes, and tool names must come from the gateway's catalog.
// Identity on spans is opt-in through [IdentityMode].
package telemetry
