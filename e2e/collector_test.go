package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/collector"
)

// TestTracesThroughCollector runs `mcpgate dev` exporting its traces with
// the standard OTEL_* environment over OTLP/HTTP to a real OpenTelemetry
// Collector, which batches them and forwards them to an OTLP/HTTP sink in
// the test: a tool call through the gateway arrives there as the gateway's
// SERVER span and its CLIENT span to the upstream, in one trace, from
// service mcpgate.
func TestTracesThroughCollector(t *testing.T) {
	t.Parallel()
	sink := collector.StartOTLPSink(t)
	collectorURL := collector.StartCollector(t, sink.URL)

	bin := mcpgateBinary(t)
	env := []string{
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + collectorURL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_METRICS_EXPORTER=none",
		"OTEL_LOGS_EXPORTER=none",
	}
	// The test's environment without any OTEL_* setting of its own.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	addr := testtools.StartListening(t, "mcpgate dev", func(addr string) *exec.Cmd {
		cmd := exec.Command(bin, "dev", "--addr", addr)
		cmd.Env = env
		return cmd
	})
	base := "http://" + addr

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	token := devToken(t, ctx, base, "alice")
	cs := connectWithToken(t, ctx, base+"/mcp", token)
	eventuallyTools(t, ctx, cs, "notes__list_notes")
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "notes__list_notes"}); err != nil || res.IsError {
		t.Fatalf("call notes__list_notes: %v %+v", err, res)
	}

	const serverSpan, clientSpan = "tools/call notes__list_notes", "tools/call list_notes"
	var server, client collector.ReceivedSpan
	sink.WaitFor(t, 30*time.Second, "spans "+serverSpan+" (SERVER) and "+clientSpan+" (CLIENT) of one trace",
		func(spans []collector.ReceivedSpan) bool {
			for _, s := range spans {
				if s.Name == serverSpan && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
					for _, c := range spans {
						if c.Name == clientSpan && c.Kind == tracepb.Span_SPAN_KIND_CLIENT && c.TraceID == s.TraceID {
							server, client = s, c
							return true
						}
					}
				}
			}
			return false
		})
	for _, s := range []collector.ReceivedSpan{server, client} {
		if s.ServiceName != "mcpgate" {
			t.Errorf("span %v: service.name %q, want mcpgate", s, s.ServiceName)
		}
	}
	if strings.Trim(server.TraceID, "0") == "" {
		t.Errorf("server span %v has no trace id", server)
	}
	if client.ParentSpanID != server.SpanID {
		t.Errorf("CLIENT span %v has parent %s, want the SERVER span %s", client, client.ParentSpanID, server.SpanID)
	}
	t.Logf("received %v\n         %v (parent %s)", server, client, client.ParentSpanID)
}

// devToken gets an access token for user from the dev gateway's POST
// /dev/token.
func devToken(t *testing.T, ctx context.Context, base, user string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/dev/token",
		strings.NewReader(url.Values{"user": {user}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("POST %s/dev/token: status %d, %v, token %q", base, resp.StatusCode, err, tr.AccessToken)
	}
	return tr.AccessToken
}
