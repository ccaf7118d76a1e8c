// Package sidebyside measures, in one run on one machine, what a call costs
// through mcpgate against the floor any proxy pays (issue #14): the same
// load, driven by internal/perf/load, at a go-sdk upstream with a no-op tool
// called directly, through a bare httputil.ReverseProxy, and through
// `mcpgate serve` configured as in production (sign-in, the shipped policy
// library with a large data document, the decision log to a file, tracing
// exported over OTLP to a local OpenTelemetry Collector). The three targets
// take turns (A B C, B C A, C A B, ...) so that drift on the machine hits all
// alike. Every server is a process of its own, so that its CPU per call can
// be read from /proc: the upstream and the proxy are this program run again
// with a hidden subcommand (ServeUpstream, ServeProxy).
//
// It owns the orchestration and the report; it must not be imported by
// mcpgate itself, and it talks to the gateway only over loopback HTTP.
package sidebyside
