package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/telemetry"
)

// withTelemetry sets up OpenTelemetry from the standard OTEL_* variables
// (traces off unless OTEL_TRACES_EXPORTER says otherwise; metrics served in
// Prometheus format at /metrics), gives the gateway its tracer, propagator
// and instruments, and puts trace and span ids on every log line written
// inside a request. It returns the logger to use and a shutdown function
// that flushes the exporters.
func withTelemetry(ctx context.Context, opts *gateway.Options, tc config.Telemetry, log *slog.Logger) (*slog.Logger, func(), error) {
	t, err := telemetry.Setup(ctx, telemetry.Options{ServiceVersion: currentBuild().version, Logger: log,
		TracesExporter: tc.TracesExporter, MetricsExporter: tc.MetricsExporter})
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: %w", err)
	}
	m, err := telemetry.NewMetrics(t.MeterProvider)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: %w", err)
	}
	// The OpenTelemetry SDK's own metrics go to the global provider: with
	// OTEL_GO_X_OBSERVABILITY=true (experimental) /metrics then counts the
	// spans its batch processor exported and dropped when its queue was
	// full (otel_sdk_processor_span_processed_total), which nothing else
	// reports (docs/observability.md).
	otel.SetMeterProvider(t.MeterProvider)
	log = slog.New(telemetry.NewLogHandler(log.Handler()))
	opts.Logger, opts.TracerProvider, opts.Propagator, opts.Metrics = log, t.TracerProvider, t.Propagator, m
	opts.SpanIdentity = telemetry.IdentityMode(tc.SpanIdentity)
	if opts.Routes == nil {
		opts.Routes = map[string]http.Handler{}
	}
	opts.Routes["GET /metrics"] = t.MetricsHandler()
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := t.Shutdown(sctx); err != nil {
			log.Warn("telemetry shutdown", "err", err)
		}
	}
	return log, shutdown, nil
}

// observeGateway reports each upstream's health (mcpgate.upstream.up) and
// the decisions the decision log dropped (mcpgate.decision_log.dropped).
func observeGateway(opts *gateway.Options, gw *gateway.Gateway) {
	_, _ = telemetry.RegisterUpstreamGauge(opts.Metrics, func() map[string]bool {
		up := map[string]bool{}
		for _, u := range gw.Status().Upstreams {
			up[u.Name] = u.State == gateway.StateReady
		}
		return up
	})
	_, _ = telemetry.RegisterSessionsGauge(opts.Metrics, func() int64 { return int64(gw.SessionCount()) })
	if dl, ok := opts.Authorizer.(interface{ DecisionLogDropped() uint64 }); ok {
		_, _ = telemetry.RegisterDecisionLogDropped(opts.Metrics, func() int64 { return int64(dl.DecisionLogDropped()) })
	}
}
