package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const (
	envTracesExporter  = "OTEL_TRACES_EXPORTER"
	envMetricsExporter = "OTEL_METRICS_EXPORTER"
)

// exporterName resolves an exporter name: the environment, then the
// option, then the default. fromEnv reports whether the environment chose.
func exporterName(envKey, option, def string) (name string, fromEnv bool) {
	if v := os.Getenv(envKey); v != "" {
		return v, true
	}
	if option != "" {
		return option, false
	}
	return def, false
}

// spanExporter returns nil for "none". sync reports that spans should be
// exported synchronously (injected test exporters).
func spanExporter(ctx context.Context, opts Options) (exp sdktrace.SpanExporter, sync bool, name string, err error) {
	if opts.SpanExporter != nil {
		return opts.SpanExporter, true, "injected", nil
	}
	name, fromEnv := exporterName(envTracesExporter, opts.TracesExporter, ExporterNone)
	switch {
	case name == ExporterNone:
		return nil, false, name, nil
	case name == ExporterConsole:
		// Same exporter autoexport builds for "console", with a settable writer.
		exp, err = stdouttrace.New(stdouttrace.WithWriter(consoleWriter(opts)))
	case fromEnv || name == ExporterOTLP:
		// With OTEL_TRACES_EXPORTER unset autoexport defaults to otlp, which
		// is what the option asked for; with it set autoexport honours it.
		exp, err = autoexport.NewSpanExporter(ctx)
	default:
		return nil, false, name, fmt.Errorf("traces exporter %q: must be one of otlp, console, none", name)
	}
	return exp, false, name, err
}

func consoleWriter(opts Options) io.Writer {
	if opts.ConsoleWriter != nil {
		return opts.ConsoleWriter
	}
	return os.Stdout
}

// metricReader returns nil for "none", and a handler for "prometheus".
func metricReader(ctx context.Context, opts Options) (sdkmetric.Reader, http.Handler, string, error) {
	if opts.MetricReader != nil {
		return opts.MetricReader, nil, "injected", nil
	}
	name, fromEnv := exporterName(envMetricsExporter, opts.MetricsExporter, ExporterPrometheus)
	switch {
	case name == ExporterNone:
		return nil, nil, name, nil
	case name == ExporterPrometheus:
		// Not autoexport's prometheus reader: it opens its own listener on
		// :9464, while mcpgate serves /metrics on its own address.
		reader, handler, err := prometheusReader()
		return reader, handler, name, err
	case fromEnv || name == ExporterOTLP:
		reader, err := autoexport.NewMetricReader(ctx)
		return reader, nil, name, err
	default:
		return nil, nil, name, fmt.Errorf("metrics exporter %q: must be one of otlp, prometheus, none", name)
	}
}

// prometheusReader serves the gateway's instruments and, beside them, the
// Go runtime's and the process's standard metrics (go_goroutines,
// go_memstats_*, process_resident_memory_bytes, process_open_fds, …), which
// the platform team's dashboards and the soak (cmd/soak) read. Beside the
// defaults, go_gc_heap_live_bytes: the heap the last collection found
// live, the measure of memory held that does not swing with garbage.
func prometheusReader() (sdkmetric.Reader, http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reader, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, err
	}
	return reader, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), nil
}
