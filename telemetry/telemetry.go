package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is the service.name used when neither Options nor
// OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES name the service.
const DefaultServiceName = "mcpgate"

// Exporter names accepted in Options and in OTEL_TRACES_EXPORTER /
// OTEL_METRICS_EXPORTER.
const (
	ExporterNone       = "none"
	ExporterOTLP       = "otlp"
	ExporterConsole    = "console"
	ExporterPrometheus = "prometheus"
)

// Options configures Setup. The zero value is valid: no tracing, Prometheus
// metrics served by [Telemetry.MetricsHandler].
//
// TracesExporter and MetricsExporter are the config-file equivalents of
// OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER. When both the environment
// variable and the option are set, the environment wins, as it does for
// every other OTEL_* setting (endpoint, protocol, headers, sampler...).
type Options struct {
	// ServiceName is the resource's service.name. If empty, defaults to
	// DefaultServiceName. OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override it.
	ServiceName string
	// ServiceVersion is the resource's service.version, if not empty.
	ServiceVersion string
	// TracesExporter is "otlp", "console" or "none". If empty, defaults to
	// "none": tracing then uses a no-op tracer provider and costs next to
	// nothing.
	TracesExporter string
	// MetricsExporter is "otlp", "prometheus" or "none". If empty, defaults
	// to "prometheus", served by MetricsHandler (mounted at /metrics by the
	// caller; no extra listener is opened).
	MetricsExporter string
	// ConsoleWriter receives spans when the traces exporter is "console".
	// If nil, defaults to os.Stdout.
	ConsoleWriter io.Writer
	// SpanExporter, if set, replaces whatever exporter the options and
	// environment select, and spans are exported synchronously. Meant for
	// tests (tracetest.InMemoryExporter).
	SpanExporter sdktrace.SpanExporter
	// MetricReader, if set, replaces whatever reader the options and
	// environment select. Meant for tests (sdkmetric.ManualReader).
	MetricReader sdkmetric.Reader
	// Logger receives Setup's one-line summary. If nil, defaults to
	// slog.Default().
	Logger *slog.Logger
}

// Telemetry holds the providers built by Setup. It installs no globals:
// callers that want them call otel.SetTracerProvider etc. themselves.
type Telemetry struct {
	// TracerProvider is a no-op provider when tracing is off.
	TracerProvider trace.TracerProvider
	// MeterProvider is a no-op provider when metrics are off.
	MeterProvider metric.MeterProvider
	// Propagator is W3C tracecontext + baggage.
	Propagator propagation.TextMapPropagator

	metricsHandler http.Handler
	shutdowns      []func(context.Context) error
	shutdownOnce   sync.Once
	shutdownErr    error
}

// Setup builds the tracer and meter providers described by opts and the
// OTEL_* environment. On error nothing is left running.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	res, err := newResource(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	t := &Telemetry{
		Propagator: propagation.NewCompositeTextMapPropagator(
			propagation.TraceContext{}, propagation.Baggage{}),
		metricsHandler: http.NotFoundHandler(),
	}
	tracesName, err := t.setupTraces(ctx, opts, res)
	if err != nil {
		return nil, fmt.Errorf("telemetry: traces: %w", err)
	}
	metricsName, err := t.setupMetrics(ctx, opts, res)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("telemetry: metrics: %w", err), t.Shutdown(ctx))
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "telemetry configured",
		slog.String("traces_exporter", tracesName), slog.String("metrics_exporter", metricsName))
	return t, nil
}

func newResource(ctx context.Context, opts Options) (*resource.Resource, error) {
	name := opts.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	attrs := []resource.Option{resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceNameKey.String(name))}
	if opts.ServiceVersion != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersionKey.String(opts.ServiceVersion)))
	}
	// Later detectors win: the environment overrides the options.
	attrs = append(attrs, resource.WithFromEnv())
	return resource.New(ctx, attrs...)
}

func (t *Telemetry) setupTraces(ctx context.Context, opts Options, res *resource.Resource) (string, error) {
	exp, sync, name, err := spanExporter(ctx, opts)
	if err != nil {
		return name, err
	}
	if exp == nil {
		t.TracerProvider = tracenoop.NewTracerProvider()
		return name, nil
	}
	process := sdktrace.WithBatcher(exp)
	if sync {
		process = sdktrace.WithSyncer(exp)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER(_ARG); default parentbased_always_on.
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), process)
	t.TracerProvider = tp
	t.shutdowns = append(t.shutdowns, tp.Shutdown)
	return name, nil
}

func (t *Telemetry) setupMetrics(ctx context.Context, opts Options, res *resource.Resource) (string, error) {
	reader, handler, name, err := metricReader(ctx, opts)
	if err != nil {
		return name, err
	}
	if reader == nil {
		t.MeterProvider = metricnoop.NewMeterProvider()
		return name, nil
	}
	if handler != nil {
		t.metricsHandler = handler
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	t.MeterProvider = mp
	t.shutdowns = append(t.shutdowns, mp.Shutdown)
	return name, nil
}

// MetricsHandler serves the Prometheus text format from mcpgate's own
// registry (not the global one). It answers 404 when the metrics exporter
// is not "prometheus".
func (t *Telemetry) MetricsHandler() http.Handler { return t.metricsHandler }

// Shutdown flushes and stops the exporters. It is safe to call more than
// once; later calls return the first call's result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		for _, shutdown := range t.shutdowns {
			errs = append(errs, shutdown(ctx))
		}
		if err := errors.Join(errs...); err != nil {
			t.shutdownErr = fmt.Errorf("telemetry: shutdown: %w", err)
		}
	})
	return t.shutdownErr
}
