package config

// Telemetry holds the configuration-file equivalents of the standard
// OTEL_* variables, which win when both are set, and what spans say about
// the caller.
type Telemetry struct {
	// TracesExporter is "otlp", "console" or "none" (OTEL_TRACES_EXPORTER).
	// If omitted, traces are off unless the environment says otherwise.
	TracesExporter string `yaml:"traces_exporter,omitempty"`
	// MetricsExporter is "prometheus" (served at /metrics), "otlp" or
	// "none" (OTEL_METRICS_EXPORTER). If omitted, defaults to "prometheus".
	MetricsExporter string `yaml:"metrics_exporter,omitempty"`
	// SpanIdentity is what spans record about the caller: "off" (nothing),
	// "hashed" (a pseudonymous hash of issuer and subject) or "subject".
	// Never in metric labels. If omitted, defaults to "off".
	SpanIdentity string `yaml:"span_identity,omitempty"`
}

func (t *Telemetry) validate(ps *problems) {
	check := func(key, value string, allowed ...string) {
		if value == "" {
			return
		}
		for _, a := range allowed {
			if value == a {
				return
			}
		}
		ps.add("telemetry."+key, "%q is not supported: use one of %v", value, allowed)
	}
	check("traces_exporter", t.TracesExporter, "otlp", "console", "none")
	check("metrics_exporter", t.MetricsExporter, "prometheus", "otlp", "none")
	check("span_identity", t.SpanIdentity, "off", "hashed", "subject")
}
