package collector_test

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/collector"
)

// TestCollector sends a span to the collector over OTLP/HTTP and waits for
// it at the sink the collector forwards to; the collector listens on its
// loopback OTLP/HTTP port only.
func TestCollector(t *testing.T) {
	t.Parallel()
	sink := collector.StartOTLPSink(t)
	endpoint := collector.StartCollector(t, sink.URL)
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Path != "" {
		t.Fatalf("endpoint %q is not http://127.0.0.1:PORT (%v)", endpoint, err)
	}

	traceID := bytes.Repeat([]byte{0xab}, 16)
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "collector-test"}}},
		}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId:           traceID,
			SpanId:            []byte{1, 2, 3, 4, 5, 6, 7, 8},
			Name:              "test-span",
			Kind:              tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: uint64(time.Now().Add(-time.Second).UnixNano()),
			EndTimeUnixNano:   uint64(time.Now().UnixNano()),
			Attributes: []*commonpb.KeyValue{
				{Key: "answer", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 42}}},
			},
		}}}},
	}}}
	body, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(endpoint+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s/v1/traces: %s", endpoint, resp.Status)
	}
	spans := sink.WaitFor(t, 30*time.Second, "test-span", func(spans []collector.ReceivedSpan) bool {
		return len(spans) > 0
	})
	sp := spans[0]
	if len(spans) != 1 || sp.Name != "test-span" || sp.Kind != tracepb.Span_SPAN_KIND_SERVER ||
		sp.TraceID != strings.Repeat("ab", 16) || sp.SpanID != "0102030405060708" ||
		sp.ServiceName != "collector-test" || sp.Attributes["answer"] != "42" {
		t.Errorf("sink received %v (attributes %v), want the one span sent", spans, sp.Attributes)
	}

	// The collector opens no socket but its OTLP/HTTP receiver: no gRPC,
	// no Prometheus endpoint of its own telemetry (:8888).
	pid := collectorPid(t)
	if addrs := testtools.ListeningAddrs(t, pid); len(addrs) != 1 || addrs[0] != u.Host {
		t.Errorf("collector listens on %v, want only %s", addrs, u.Host)
	}
}

// collectorPid finds the one otelcol-mcpgate process this test binary
// started (Linux only; skips elsewhere).
func collectorPid(t *testing.T) int {
	t.Helper()
	bin, err := filepath.EvalSymlinks(collector.CollectorBin(t))
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	if len(dirs) == 0 {
		t.Skip("needs /proc")
	}
	self := strconv.Itoa(os.Getpid())
	var pids []int
	for _, d := range dirs {
		exe, err := os.Readlink(filepath.Join(d, "exe"))
		if err != nil || exe != bin {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ")".
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != self {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		pids = append(pids, pid)
	}
	if len(pids) != 1 {
		t.Fatalf("found collector processes %v among this test's children, want one", pids)
	}
	return pids[0]
}
