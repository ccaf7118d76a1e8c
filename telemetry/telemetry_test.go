package telemetry

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clearEnv pins the OTEL_* variables these tests depend on; t.Setenv also
// keeps the test from running in parallel with others that read them.
func clearEnv(t *testing.T) {
	for _, k := range []string{envTracesExporter, envMetricsExporter, "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"} {
		t.Setenv(k, "")
	}
}

func setup(t *testing.T, opts Options) *Telemetry {
	t.Helper()
	opts.Logger = quiet
	tel, err := Setup(t.Context(), opts)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

func TestSetupTracesNoneIsNoop(t *testing.T) {
	tests := map[string]struct{ env, option string }{
		"default":         {},
		"option none":     {option: "none"},
		"env wins option": {env: "none", option: "otlp"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(envTracesExporter, tc.env)
			tel := setup(t, Options{TracesExporter: tc.option, MetricsExporter: ExporterNone})
			if _, ok := tel.TracerProvider.(tracenoop.TracerProvider); !ok {
				t.Fatalf("TracerProvider = %T, want noop", tel.TracerProvider)
			}
			_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "op")
			defer span.End()
			if span.IsRecording() {
				t.Error("no-op span is recording")
			}
		})
	}
}

func TestSetupInjectedExporterRecordsSpans(t *testing.T) {
	clearEnv(t)
	exp := tracetest.NewInMemoryExporter()
	tel := setup(t, Options{SpanExporter: exp, ServiceVersion: "1.2.3", MetricsExporter: ExporterNone})
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "tools/call echo")
	span.End()

	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "tools/call echo" {
		t.Fatalf("spans = %v, want one named %q", spans, "tools/call echo")
	}
	res := spans[0].Resource.Set()
	for key, want := range map[attribute.Key]string{
		semconv.ServiceNameKey:    DefaultServiceName,
		semconv.ServiceVersionKey: "1.2.3",
	} {
		if v, _ := res.Value(key); v.AsString() != want {
			t.Errorf("%s = %q, want %q", key, v.AsString(), want)
		}
	}
}

func TestSetupServiceNameFromEnvWins(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_SERVICE_NAME", "edge-gw")
	exp := tracetest.NewInMemoryExporter()
	tel := setup(t, Options{ServiceName: "configured", SpanExporter: exp, MetricsExporter: ExporterNone})
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "op")
	span.End()
	v, _ := exp.GetSpans()[0].Resource.Set().Value(semconv.ServiceNameKey)
	if v.AsString() != "edge-gw" {
		t.Errorf("service.name = %q, want edge-gw", v.AsString())
	}
}

func TestSetupConsoleFromEnvWritesSpans(t *testing.T) {
	clearEnv(t)
	t.Setenv(envTracesExporter, ExporterConsole)
	var buf bytes.Buffer
	tel, err := Setup(t.Context(), Options{ConsoleWriter: &buf, MetricsExporter: ExporterNone, Logger: quiet})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if _, ok := tel.TracerProvider.(*sdktrace.TracerProvider); !ok {
		t.Fatalf("TracerProvider = %T, want SDK provider", tel.TracerProvider)
	}
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "initialize")
	span.End()
	if err := tel.Shutdown(t.Context()); err != nil { // flushes the batcher
		t.Fatalf("Shutdown: %v", err)
	}
	if !strings.Contains(buf.String(), `"Name":"initialize"`) {
		t.Errorf("console output lacks the span:\n%s", buf.String())
	}
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestSetupRejectsUnknownExporters(t *testing.T) {
	tests := map[string]Options{
		"traces":  {TracesExporter: "zipkin"},
		"metrics": {MetricsExporter: "statsd"},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			opts.Logger = quiet
			if _, err := Setup(t.Context(), opts); err == nil {
				t.Fatal("Setup succeeded, want error")
			}
		})
	}
}

func TestMetricsHandlerNotFoundUnlessPrometheus(t *testing.T) {
	clearEnv(t)
	tel := setup(t, Options{MetricsExporter: ExporterNone})
	srv := newLoopbackServer(t, tel.MetricsHandler())
	if code := get(t, srv.URL).StatusCode; code != 404 {
		t.Errorf("status = %d, want 404", code)
	}
}
