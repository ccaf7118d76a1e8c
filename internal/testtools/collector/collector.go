package collector

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/mcpgate/mcpgate/internal/testtools"
)

// CollectorVersion is the OpenTelemetry Collector release whose builder and
// core components scripts/install-tools.sh builds into
// testtools.ToolsBin()/otelcol-mcpgate.
const CollectorVersion = "v0.165.0"

// CollectorBin returns the path of the OpenTelemetry Collector distribution
// built by scripts/install-tools.sh (testtools.ToolsBin()/otelcol-mcpgate: the otlp
// receiver, the batch processor, the debug and otlphttp exporters).
func CollectorBin(t testing.TB) string {
	t.Helper()
	p := filepath.Join(testtools.ToolsBin(), "otelcol-mcpgate")
	if err := testtools.IsExecutable(p); err != nil {
		testtools.Missing(t, "otelcol-mcpgate "+CollectorVersion+" (OpenTelemetry Collector)", err.Error())
	}
	return p
}

// collectorConfig is the configuration StartCollector runs the collector
// with: a traces pipeline otlp (HTTP only, on addr) -> batch -> debug and
// otlphttp (to forwardTo, uncompressed). The otlp receiver opens only the
// protocols it is configured with, so there is no gRPC listener; the
// collector's own telemetry has its metrics off (no Prometheus listener on
// :8888) and logs to stderr.
func collectorConfig(addr, forwardTo string) map[string]any {
	return map[string]any{
		"receivers": map[string]any{
			"otlp": map[string]any{
				"protocols": map[string]any{
					"http": map[string]any{"endpoint": addr},
				},
			},
		},
		"processors": map[string]any{
			"batch": map[string]any{"timeout": "100ms"},
		},
		"exporters": map[string]any{
			"debug": map[string]any{"verbosity": "basic"},
			"otlphttp": map[string]any{
				"endpoint":    forwardTo,
				"compression": "none",
				"tls":         map[string]any{"insecure": true},
			},
		},
		"service": map[string]any{
			"telemetry": map[string]any{
				"metrics": map[string]any{"level": "none"},
				"logs":    map[string]any{"level": "info"},
			},
			"pipelines": map[string]any{
				"traces": map[string]any{
					"receivers":  []string{"otlp"},
					"processors": []string{"batch"},
					"exporters":  []string{"debug", "otlphttp"},
				},
			},
		},
	}
}

// StartCollector starts the OpenTelemetry Collector (CollectorBin) with an
// OTLP/HTTP receiver on a free loopback port, forwarding traces over
// OTLP/HTTP (protobuf, uncompressed, plain HTTP) to forwardTo, the base URL
// of an OTLP/HTTP receiver (the exporter posts to forwardTo + "/v1/traces").
// It listens on nothing but that loopback port, and returns once the port
// accepts connections: "http://127.0.0.1:PORT", the value for
// OTEL_EXPORTER_OTLP_ENDPOINT. Its output (the debug exporter logs every
// batch) goes to the test log if the test failed. Its process group is
// killed in t.Cleanup.
func StartCollector(t testing.TB, forwardTo string) string {
	t.Helper()
	bin := CollectorBin(t)
	dir := t.TempDir()
	addr := testtools.StartListening(t, "otelcol-mcpgate", func(addr string) *exec.Cmd {
		cfg := filepath.Join(dir, "otelcol-"+strings.ReplaceAll(addr, ":", "_")+".yaml")
		// JSON is YAML: the collector reads it as is.
		data, err := json.MarshalIndent(collectorConfig(addr, forwardTo), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--config", cfg)
		cmd.Dir = dir
		// Nothing of the test's environment: the collector's SDK reads
		// OTEL_* variables.
		cmd.Env = []string{"HOME=" + dir}
		return cmd
	})
	return "http://" + addr
}

// ReceivedSpan is a span an OTLPSink received, flattened.
type ReceivedSpan struct {
	TraceID, SpanID, ParentSpanID string // lowercase hex
	Name                          string
	Kind                          tracepb.Span_SpanKind
	// ServiceName is the resource's service.name.
	ServiceName string
	// Attributes holds the span's attributes, their values formatted as
	// strings (see anyValueString).
	Attributes map[string]string
}

func (s ReceivedSpan) String() string {
	return fmt.Sprintf("%s %q (%s) trace %s service %q", s.Kind, s.Name, s.SpanID, s.TraceID, s.ServiceName)
}

// OTLPSink is an OTLP/HTTP trace receiver (POST /v1/traces, protobuf,
// optionally gzip-compressed) on a loopback port, standing in for a
// tracing backend.
type OTLPSink struct {
	// URL is the base URL "http://127.0.0.1:PORT", for an OTLP/HTTP
	// exporter's endpoint.
	URL string

	mu       sync.Mutex
	spans    []ReceivedSpan
	requests int
}

// StartOTLPSink starts an OTLPSink, closed in t.Cleanup.
func StartOTLPSink(t testing.TB) *OTLPSink {
	t.Helper()
	s := &OTLPSink{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *OTLPSink) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "only POST /v1/traces", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "Content-Type "+ct+", want application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []ReceivedSpan
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, kv := range sp.GetAttributes() {
					attrs[kv.GetKey()] = anyValueString(kv.GetValue())
				}
				got = append(got, ReceivedSpan{
					TraceID:      hex.EncodeToString(sp.GetTraceId()),
					SpanID:       hex.EncodeToString(sp.GetSpanId()),
					ParentSpanID: hex.EncodeToString(sp.GetParentSpanId()),
					Name:         sp.GetName(),
					Kind:         sp.GetKind(),
					ServiceName:  service,
					Attributes:   attrs,
				})
			}
		}
	}
	s.mu.Lock()
	s.spans = append(s.spans, got...)
	s.requests++
	s.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// anyValueString formats an attribute value: strings as they are, numbers
// and booleans as strconv does, anything else in protobuf text format.
func anyValueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	default:
		return prototext.Format(v)
	}
}

// Spans returns the spans received so far.
func (s *OTLPSink) Spans() []ReceivedSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ReceivedSpan(nil), s.spans...)
}

// WaitFor polls the received spans until done returns true for them, and
// returns them then. After timeout (or the test's context ends) it fails
// the test, listing the spans received.
func (s *OTLPSink) WaitFor(t testing.TB, timeout time.Duration, what string, done func([]ReceivedSpan) bool) []ReceivedSpan {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		spans := s.Spans()
		if done(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, sp := range spans {
				fmt.Fprintf(&b, "\n  %v", sp)
			}
			t.Fatalf("OTLP sink: %s not received after %v; received %d spans:%s", what, timeout, len(spans), b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
