package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// The _meta keys reserved for W3C Trace Context and Baggage (MCP 2026-07-28,
// SEP-414; MCP semconv v1.41.0).
const (
	MetaKeyTraceparent = "traceparent"
	MetaKeyTracestate  = "tracestate"
	MetaKeyBaggage     = "baggage"
)

var metaKeys = []string{MetaKeyTraceparent, MetaKeyTracestate, MetaKeyBaggage}

// MetaCarrier is a propagation.TextMapCarrier over an MCP params._meta map
// (mcp.Meta is a map[string]any). Only the traceparent, tracestate and
// baggage keys are read or written, and only string values count: other
// keys and non-string values are invisible to propagators.
//
// Set on a nil MetaCarrier panics, as on any nil map; see InjectMeta.
type MetaCarrier map[string]any

var _ propagation.TextMapCarrier = MetaCarrier(nil)

// Get returns the string value of a trace-context key, or "".
func (c MetaCarrier) Get(key string) string {
	if !isMetaKey(key) {
		return ""
	}
	s, _ := c[key].(string)
	return s
}

// Set stores value under a trace-context key; other keys are ignored.
func (c MetaCarrier) Set(key, value string) {
	if isMetaKey(key) {
		c[key] = value
	}
}

// Keys lists the trace-context keys present with string values.
func (c MetaCarrier) Keys() []string {
	keys := make([]string, 0, len(metaKeys))
	for _, k := range metaKeys {
		if _, ok := c[k].(string); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

func isMetaKey(key string) bool {
	return key == MetaKeyTraceparent || key == MetaKeyTracestate || key == MetaKeyBaggage
}

// ExtractMeta returns ctx with the remote span context and baggage found in
// meta, which may be nil.
func ExtractMeta(ctx context.Context, p propagation.TextMapPropagator, meta map[string]any) context.Context {
	if len(meta) == 0 {
		return ctx
	}
	return p.Extract(ctx, MetaCarrier(meta))
}

// InjectMeta overwrites the trace-context keys of meta with ctx's span
// context and baggage, removing stale ones the caller sent, and returns
// meta (allocated if nil and there is something to write). Other keys are
// left untouched.
func InjectMeta(ctx context.Context, p propagation.TextMapPropagator, meta map[string]any) map[string]any {
	for _, k := range metaKeys {
		delete(meta, k)
	}
	if meta == nil {
		meta = make(map[string]any, len(metaKeys))
	}
	p.Inject(ctx, MetaCarrier(meta))
	return meta
}
