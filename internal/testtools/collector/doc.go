// Package collector runs an OpenTelemetry Collector (otelcol-mcpgate, built
// by scripts/install-tools.sh) on loopback, and an OTLP/HTTP sink that
// records the spans it receives. It is imported only by _test.go files.
package collector
