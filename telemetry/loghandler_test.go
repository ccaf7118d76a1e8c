package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestLogHandlerAddsTraceIDsOnlyInsideSpan(t *testing.T) {
	t.Parallel()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		SpanID:  trace.SpanID{0xbb, 1, 2, 3, 4, 5, 6, 7},
	})
	tests := map[string]struct {
		inSpan      bool
		wantTraceID string
		wantSpanID  string
	}{
		"inside span":  {inSpan: true, wantTraceID: sc.TraceID().String(), wantSpanID: sc.SpanID().String()},
		"outside span": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
			ctx := t.Context()
			if tc.inSpan {
				ctx = trace.ContextWithSpanContext(ctx, sc)
			}
			logger.InfoContext(ctx, "hello")

			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("decode %q: %v", buf.String(), err)
			}
			if rec["component"] != "test" {
				t.Errorf("WithAttrs lost: %v", rec)
			}
			for key, want := range map[string]string{LogKeyTraceID: tc.wantTraceID, LogKeySpanID: tc.wantSpanID} {
				got, present := rec[key]
				if want == "" && present {
					t.Errorf("%s = %v outside a span", key, got)
				}
				if want != "" && got != want {
					t.Errorf("%s = %v, want %s", key, got, want)
				}
			}
		})
	}
}
