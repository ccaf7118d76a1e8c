package telemetry

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

var traceparentForm = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// FuzzMeta: any params._meta a client sends (a JSON object) is read for
// trace context without a panic, and what the gateway forwards keeps every
// other key as it came, carries a well-formed traceparent exactly when a
// valid one was read (with its trace id), a baggage that parses, and never
// a trace-context key that is not a string.
func FuzzMeta(f *testing.F) {
	f.Add([]byte(`{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"a=b","baggage":"k=v","progressToken":1}`))
	f.Add([]byte(`{"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}`))
	f.Add([]byte(`{"traceparent":"zz","tracestate":"=","baggage":"%%%;;="}`))
	f.Add([]byte(`{"traceparent":7,"baggage":["k=v"],"x":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}`))
	f.Add([]byte(`{"TRACEPARENT":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`))
	p := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var meta map[string]any
		if json.Unmarshal(data, &meta) != nil || meta == nil {
			return
		}
		ctx := ExtractMeta(context.Background(), p, meta)
		read := trace.SpanContextFromContext(ctx)
		out := InjectMeta(ctx, p, maps.Clone(meta))
		for k, v := range meta {
			if !isMetaKey(k) && !reflect.DeepEqual(out[k], v) {
				t.Errorf("key %q: forwarded %#v, sent %#v", k, out[k], v)
			}
		}
		for _, k := range metaKeys {
			if v, ok := out[k]; ok {
				if _, isString := v.(string); !isString {
					t.Errorf("%s forwarded as %T", k, v)
				}
			}
		}
		tp, has := out[MetaKeyTraceparent].(string)
		if has != read.IsValid() {
			t.Fatalf("traceparent forwarded %v (%q), a valid one read %v, from %s", has, tp, read.IsValid(), data)
		}
		if has && (!traceparentForm.MatchString(tp) || !strings.Contains(tp, read.TraceID().String())) {
			t.Errorf("traceparent forwarded %q, read trace id %s", tp, read.TraceID())
		}
		if b, ok := out[MetaKeyBaggage].(string); ok {
			if _, err := baggage.Parse(b); err != nil {
				t.Errorf("baggage forwarded %q does not parse: %v", b, err)
			}
		}
	})
}
