package telemetry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

func TestMetaRoundTrip(t *testing.T) {
	t.Parallel()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	member, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(member)
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(t.Context(), sc), bag)

	// Stale trace keys from the client are replaced; other keys survive.
	meta := map[string]any{"traceparent": "00-stale", "tracestate": "x=y", "progressToken": 7.0}
	meta = InjectMeta(ctx, w3c, meta)
	want := map[string]any{
		"traceparent":   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"baggage":       "tenant=acme",
		"progressToken": 7.0,
	}
	if diff := cmp.Diff(want, meta); diff != "" {
		t.Fatalf("injected _meta (-want +got):\n%s", diff)
	}

	got := ExtractMeta(t.Context(), w3c, meta)
	gotSC := trace.SpanContextFromContext(got)
	if gotSC.TraceID() != sc.TraceID() || gotSC.SpanID() != sc.SpanID() || !gotSC.IsSampled() || !gotSC.IsRemote() {
		t.Errorf("extracted span context = %+v, want remote copy of %+v", gotSC, sc)
	}
	if v := baggage.FromContext(got).Member("tenant").Value(); v != "acme" {
		t.Errorf("baggage tenant = %q, want acme", v)
	}
}

func TestInjectMetaNilAllocates(t *testing.T) {
	t.Parallel()
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
	meta := InjectMeta(trace.ContextWithSpanContext(t.Context(), sc), w3c, nil)
	if _, ok := meta["traceparent"].(string); !ok {
		t.Errorf("meta = %v, want a traceparent", meta)
	}
}

func TestMetaCarrierIgnoresNonStringAndUnknownKeys(t *testing.T) {
	t.Parallel()
	c := MetaCarrier{
		"traceparent":                  42,
		"tracestate":                   map[string]any{"a": "b"},
		"baggage":                      "k=v",
		"io.modelcontextprotocol/note": "x",
		"other":                        "y",
	}
	if diff := cmp.Diff([]string{"baggage"}, c.Keys()); diff != "" {
		t.Errorf("Keys (-want +got):\n%s", diff)
	}
	for key, want := range map[string]string{"traceparent": "", "tracestate": "", "baggage": "k=v", "other": ""} {
		if got := c.Get(key); got != want {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
	}
	c.Set("other", "z")
	if c["other"] != "y" {
		t.Errorf("Set wrote a non trace-context key: other = %v", c["other"])
	}
	if ctx := ExtractMeta(t.Context(), w3c, c); trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("extracted a span context from a non-string traceparent")
	}
}
