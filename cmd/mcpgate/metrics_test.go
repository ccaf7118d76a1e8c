package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestDevMetrics scrapes /metrics of mcpgate dev after known traffic and
// parses it with the Prometheus text parser.
func TestDevMetrics(t *testing.T) {
	t.Parallel()
	r := start(t, newTestEnv(nil), "dev", "--addr", "127.0.0.1:0")
	code, token, stderr := runCLI(t, nil, "dev", "token", "--addr", r.addr.String(), "alice")
	if code != exitOK {
		t.Fatal(stderr)
	}
	cs := connect(t, r.baseURL()+"/mcp", strings.TrimSpace(token))
	for range 3 {
		if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "notes__list_notes"}); err != nil {
			t.Fatal(err)
		}
	}
	// A denial of a tool alice lists: the policy's argument constraint.
	_, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "notes__write_note", Arguments: map[string]any{"body": "x"}})
	if err == nil {
		t.Fatal("alice wrote a note without an id")
	}
	// A name the client invents gets no series of its own.
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "attacker-chosen-1"}); err == nil {
		t.Fatal("a call to an unknown tool succeeded")
	}
	// One stateful (2025-11-25) session stays open while /metrics is read.
	legacy, err := mcp.NewClient(&mcp.Implementation{Name: "legacy", Version: "1"}, nil).Connect(t.Context(),
		&mcp.StreamableClientTransport{Endpoint: r.baseURL() + "/mcp", HTTPClient: &http.Client{Transport: bearer{strings.TrimSpace(token)}}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	resp, err := http.Get(r.baseURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	count := func(family string, labels map[string]string) float64 {
		var n float64
		for _, m := range families[family].GetMetric() {
			if matches(m, labels) {
				switch {
				case m.Histogram != nil:
					n += float64(m.Histogram.GetSampleCount())
				case m.Counter != nil:
					n += m.Counter.GetValue()
				case m.Gauge != nil:
					n += m.Gauge.GetValue()
				}
			}
		}
		return n
	}
	checks := []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"mcp_server_operation_duration_seconds", map[string]string{"mcp_method_name": "tools/call", "gen_ai_tool_name": "notes__list_notes", "outcome": "ok"}, 3},
		{"mcp_server_operation_duration_seconds", map[string]string{"mcp_method_name": "tools/call", "outcome": "denied"}, 1},
		{"mcp_client_operation_duration_seconds", map[string]string{"mcp_method_name": "tools/call", "server": "notes"}, 3},
		{"mcpgate_policy_decisions_total", map[string]string{"phase": "call", "allow": "false"}, 1},
		{"mcpgate_upstream_up", map[string]string{"server": "hr"}, 1},
		{"mcpgate_authn_verifications_total", map[string]string{"outcome": "ok", "cached": "false"}, 1},
		{"mcpgate_decision_log_dropped_total", nil, 0},
		{"mcp_server_operation_duration_seconds", map[string]string{"gen_ai_tool_name": "attacker-chosen-1"}, 0},
		{"mcpgate_sessions_active", nil, 1},
	}
	if n := count("mcp_server_operation_duration_seconds", map[string]string{"mcp_method_name": "tools/call", "outcome": "error"}); n != 1 {
		t.Errorf("the call to an unknown tool is recorded %v times as a tools/call error, want 1", n)
	}
	for _, f := range []string{"mcpgate_decision_log_dropped_total", "mcpgate_sessions_active"} {
		if _, ok := families[f]; !ok {
			t.Errorf("no %s in /metrics", f)
		}
	}
	for _, c := range checks {
		if got := count(c.family, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
	// The shipped library decides a view's list phase once per kind of
	// feature (policy.Engine.DecideList), not once per entry: the caller
	// has two views, one its 2026-07-28 requests share with callers of
	// the same groups, and its 2025 session's own.
	if n := count("mcpgate_policy_decisions_total", map[string]string{"phase": "list"}); n < 1 || n > 8 {
		t.Errorf("list decisions %v, want one per kind of feature and view (1 to 8)", n)
	}
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
