package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func newLoopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	resp := get(t, newLoopbackServer(t, h).URL+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return families
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// find returns the first metric of family name whose labels include want.
func find(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := families[name]
	if !ok {
		names := make([]string, 0, len(families))
		for n := range families {
			names = append(names, n)
		}
		t.Fatalf("no family %q; have %v", name, names)
	}
outer:
	for _, m := range f.GetMetric() {
		got := labels(m)
		for k, v := range want {
			if got[k] != v {
				continue outer
			}
		}
		return m
	}
	t.Fatalf("family %q has no metric with labels %v", name, want)
	return nil
}

func recordSample(ctx context.Context, t *testing.T, m *Metrics) {
	t.Helper()
	m.RecordServerOperation(ctx, 30*time.Millisecond, "tools/call", "notes", "notes__read_note", OutcomeOK)
	m.RecordServerOperation(ctx, 30*time.Millisecond, "tools/call", "notes", "notes__read_note", OutcomeOK)
	m.RecordServerOperation(ctx, 700*time.Millisecond, "tools/call", "notes", "notes__read_note", OutcomeOK)
	m.RecordServerOperation(ctx, time.Millisecond, "tools/call", "hr", "hr__salary_report", OutcomeDenied)
	m.RecordClientOperation(ctx, 20*time.Millisecond, "tools/call", "notes", OutcomeOK)
	m.RecordPolicyDecision(ctx, "call", true, 200*time.Microsecond)
	m.RecordPolicyDecision(ctx, "call", false, 300*time.Microsecond)
	m.RecordPolicyDecision(ctx, "call", false, 300*time.Microsecond)
	m.RecordAuthnVerification(ctx, "ok", true)
	if _, err := RegisterSessionsGauge(m, func() int64 { return 1 }); err != nil {
		t.Fatal(err)
	}
	if _, err := RegisterUpstreamGauge(m, func() map[string]bool { return map[string]bool{"notes": true, "hr": false} }); err != nil {
		t.Fatal(err)
	}
	if _, err := RegisterDecisionLogDropped(m, func() int64 { return 7 }); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsPrometheusScrape(t *testing.T) {
	clearEnv(t)
	tel := setup(t, Options{}) // metrics default to prometheus
	m, err := NewMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	recordSample(t.Context(), t, m)
	families := scrape(t, tel.MetricsHandler())

	h := find(t, families, "mcp_server_operation_duration_seconds", map[string]string{
		"mcp_method_name": "tools/call", "server": "notes", "gen_ai_tool_name": "notes__read_note", "outcome": "ok",
	}).GetHistogram()
	if h.GetSampleCount() != 3 {
		t.Errorf("server op count = %d, want 3", h.GetSampleCount())
	}
	if got, want := h.GetSampleSum(), 0.76; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("server op sum = %v, want %v", got, want)
	}
	if got, want := len(h.GetBucket()), len(OperationBuckets)+1; got != want { // +Inf
		t.Errorf("server op buckets = %d, want %d", got, want)
	}
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == 0.05 && b.GetCumulativeCount() != 2 {
			t.Errorf("le=0.05 count = %d, want 2", b.GetCumulativeCount())
		}
	}
	find(t, families, "mcp_server_operation_duration_seconds", map[string]string{"server": "hr", "outcome": "denied"})
	if c := find(t, families, "mcp_client_operation_duration_seconds", map[string]string{"server": "notes"}).GetHistogram().GetSampleCount(); c != 1 {
		t.Errorf("client op count = %d, want 1", c)
	}

	counters := map[string]struct {
		labels map[string]string
		want   float64
	}{
		"mcpgate_policy_decisions_total":     {map[string]string{"phase": "call", "allow": "false"}, 2},
		"mcpgate_authn_verifications_total":  {map[string]string{"outcome": "ok", "cached": "true"}, 1},
		"mcpgate_decision_log_dropped_total": {nil, 7},
	}
	for name, c := range counters {
		if got := find(t, families, name, c.labels).GetCounter().GetValue(); got != c.want {
			t.Errorf("%s = %v, want %v", name, got, c.want)
		}
	}
	gauges := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mcpgate_sessions_active", nil, 1},
		{"mcpgate_upstream_up", map[string]string{"server": "notes"}, 1},
		{"mcpgate_upstream_up", map[string]string{"server": "hr"}, 0},
	}
	for _, g := range gauges {
		if got := find(t, families, g.name, g.labels).GetGauge().GetValue(); got != g.want {
			t.Errorf("%s%v = %v, want %v", g.name, g.labels, got, g.want)
		}
	}
	if c := find(t, families, "mcpgate_policy_evaluation_duration_seconds", map[string]string{"phase": "call"}).GetHistogram().GetSampleCount(); c != 3 {
		t.Errorf("policy evaluation count = %d, want 3", c)
	}
	// The runtime's and the process's own metrics, beside the gateway's.
	if g := find(t, families, "go_goroutines", nil).GetGauge().GetValue(); g < 1 {
		t.Errorf("go_goroutines = %v, want this process's count", g)
	}
	if m := find(t, families, "process_resident_memory_bytes", nil).GetGauge().GetValue(); m < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v, want this process's", m)
	}
	runtime.GC() // the live heap is known after a collection
	families = scrape(t, tel.MetricsHandler())
	if m := find(t, families, "go_gc_heap_live_bytes", nil).GetGauge().GetValue(); m < 1<<10 {
		t.Errorf("go_gc_heap_live_bytes = %v, want this process's live heap", m)
	}
}

func TestMetricsManualReader(t *testing.T) {
	clearEnv(t)
	reader := sdkmetric.NewManualReader()
	tel := setup(t, Options{MetricReader: reader})
	m, err := NewMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	recordSample(t.Context(), t, m)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			got[md.Name] = true
		}
	}
	for _, name := range []string{
		"mcp.server.operation.duration", "mcp.client.operation.duration", "mcpgate.policy.decisions",
		"mcpgate.policy.evaluation.duration", "mcpgate.authn.verifications", "mcpgate.sessions.active",
		"mcpgate.upstream.up", "mcpgate.decision_log.dropped",
	} {
		if !got[name] {
			t.Errorf("instrument %s not collected; got %v", name, got)
		}
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.RecordServerOperation(t.Context(), time.Second, "tools/call", "s", "", OutcomeOK)
	_, _ = RegisterSessionsGauge(m, func() int64 { return 1 })
	if _, err := RegisterUpstreamGauge(m, nil); err != nil {
		t.Error(err)
	}
}
