package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/mcpconv"
)

// ScopeName is the instrumentation scope of mcpgate's meter.
const ScopeName = "github.com/mcpgate/mcpgate"

// Metric attribute keys that the MCP semantic conventions do not define.
const (
	AttrServer  = attribute.Key("server")  // upstream server name from config
	AttrOutcome = attribute.Key("outcome") // an Outcome
	AttrPhase   = attribute.Key("phase")   // policy phase, a fixed set
	AttrAllow   = attribute.Key("allow")
	AttrCached  = attribute.Key("cached")
)

// Outcome classifies an MCP operation for metrics.
type Outcome string

const (
	OutcomeOK        Outcome = "ok"
	OutcomeError     Outcome = "error"      // JSON-RPC error or transport failure
	OutcomeDenied    Outcome = "denied"     // refused by policy
	OutcomeToolError Outcome = "tool_error" // CallToolResult.isError
)

// OperationBuckets are the MCP semconv histogram boundaries, in seconds.
var OperationBuckets = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}

// policyBuckets suit in-process Rego evaluation (tens of µs to a few ms).
var policyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1}

// Metrics holds every instrument mcpgate records into. All attributes are
// bounded: never a user id, session id, token claim or argument; tool
// names only from the gateway's catalog. A nil *Metrics records nothing.
type Metrics struct {
	meter metric.Meter
	// mcp.server.operation.duration: mcp.method.name, server, gen_ai.tool.name, outcome.
	serverOp mcpconv.ServerOperationDuration
	// mcp.client.operation.duration (upstream calls): mcp.method.name, server, outcome.
	clientOp mcpconv.ClientOperationDuration
	// mcpgate.policy.decisions: phase, allow.
	policyDecisions metric.Int64Counter
	// mcpgate.policy.evaluation.duration: phase.
	policyEval metric.Float64Histogram
	// mcpgate.authn.verifications: outcome, cached.
	authn metric.Int64Counter
	// mcpgate.sessions.restored: outcome.
	restored metric.Int64Counter
	// mcpgate.sessions.active: no attributes.
	sessions metric.Int64ObservableUpDownCounter
	// mcpgate.upstream.up: server. Observed through RegisterUpstreamGauge.
	upstreamUp metric.Int64ObservableGauge
	// mcpgate.decision_log.dropped: no attributes. Observed through RegisterDecisionLogDropped.
	decisionLogDropped metric.Int64ObservableCounter
	// mcpgate.limits.enforced: limit, action.
	limits metric.Int64Counter
	// mcpgate.upstream.token.requests: server, outcome.
	upstreamTokens metric.Int64Counter
	// mcpgate.approval.changes: server, kind, state, action.
	approvalChanges metric.Int64Counter
	// mcpgate.approval.unapproved_uses: server, kind, reason.
	approvalUses metric.Int64Counter
}

// NewMetrics creates the instruments on mp's mcpgate meter. A nil mp
// yields instruments that record nothing.
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	m := &Metrics{meter: meter}
	var err, e error
	m.serverOp, e = mcpconv.NewServerOperationDuration(meter, metric.WithExplicitBucketBoundaries(OperationBuckets...))
	err = errors.Join(err, e)
	m.clientOp, e = mcpconv.NewClientOperationDuration(meter, metric.WithExplicitBucketBoundaries(OperationBuckets...))
	err = errors.Join(err, e)
	m.policyDecisions, e = meter.Int64Counter("mcpgate.policy.decisions",
		metric.WithUnit("{decision}"), metric.WithDescription("Policy decisions, by phase and result."))
	err = errors.Join(err, e)
	m.policyEval, e = meter.Float64Histogram("mcpgate.policy.evaluation.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to evaluate the policy for one decision."),
		metric.WithExplicitBucketBoundaries(policyBuckets...))
	err = errors.Join(err, e)
	m.authn, e = meter.Int64Counter("mcpgate.authn.verifications",
		metric.WithUnit("{verification}"), metric.WithDescription("Access-token verifications, by outcome and cache use."))
	err = errors.Join(err, e)
	m.restored, e = meter.Int64Counter("mcpgate.sessions.restored", metric.WithUnit("{session}"),
		metric.WithDescription("Sessions of other replicas taken over from their sealed session id, by outcome."))
	err = errors.Join(err, e)
	m.sessions, e = meter.Int64ObservableUpDownCounter("mcpgate.sessions.active",
		metric.WithUnit("{session}"), metric.WithDescription("MCP sessions currently open on the gateway."))
	err = errors.Join(err, e)
	// No unit: "1" would make Prometheus name it mcpgate_upstream_up_ratio.
	m.upstreamUp, e = meter.Int64ObservableGauge("mcpgate.upstream.up",
		metric.WithDescription("1 when the upstream server is reachable, else 0."))
	err = errors.Join(err, e)
	m.decisionLogDropped, e = meter.Int64ObservableCounter("mcpgate.decision_log.dropped",
		metric.WithUnit("{record}"), metric.WithDescription("Decision-log records dropped because the sink fell behind."))
	err = errors.Join(err, e)
	m.limits, e = meter.Int64Counter("mcpgate.limits.enforced", metric.WithUnit("{event}"),
		metric.WithDescription("Times a limit of the limits section was enforced, by limit and action."))
	err = errors.Join(err, e)
	m.upstreamTokens, e = meter.Int64Counter("mcpgate.upstream.token.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Upstream credentials the gateway needed, by server and outcome (cached, fetched, failed)."))
	err = errors.Join(err, e)
	m.approvalChanges, e = meter.Int64Counter("mcpgate.approval.changes", metric.WithUnit("{item}"),
		metric.WithDescription("Upstream items found not approved by the lock file (modified or new), by server, kind, state and action (quarantined, served)."))
	err = errors.Join(err, e)
	m.approvalUses, e = meter.Int64Counter("mcpgate.approval.unapproved_uses", metric.WithUnit("{call}"),
		metric.WithDescription("Calls of items not approved by the lock file that were let through, by server, kind and reason (warn: the server's mode; policy: allow_unapproved)."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("telemetry: metrics: %w", err)
	}
	return m, nil
}

// RecordServerOperation records one MCP operation handled by the gateway.
// tool must be a catalog name or "" (omitted), never a client-supplied
// unknown name, so that the label set stays bounded.
func (m *Metrics) RecordServerOperation(ctx context.Context, d time.Duration, method, server, tool string, outcome Outcome) {
	if m == nil {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, AttrServer.String(server), AttrOutcome.String(string(outcome)))
	if tool != "" {
		attrs = append(attrs, semconv.GenAIToolNameKey.String(tool))
	}
	m.serverOp.Record(ctx, d.Seconds(), mcpconv.MethodNameAttr(method), attrs...)
}

// RecordClientOperation records one call from the gateway to an upstream.
func (m *Metrics) RecordClientOperation(ctx context.Context, d time.Duration, method, server string, outcome Outcome) {
	if m == nil {
		return
	}
	m.clientOp.Record(ctx, d.Seconds(), mcpconv.MethodNameAttr(method),
		AttrServer.String(server), AttrOutcome.String(string(outcome)))
}

// RecordPolicyDecision counts one decision and its evaluation time. phase
// is a fixed gateway-defined name (e.g. "list", "call").
func (m *Metrics) RecordPolicyDecision(ctx context.Context, phase string, allow bool, d time.Duration) {
	if m == nil {
		return
	}
	m.policyDecisions.Add(ctx, 1, metric.WithAttributes(AttrPhase.String(phase), AttrAllow.Bool(allow)))
	m.policyEval.Record(ctx, d.Seconds(), metric.WithAttributes(AttrPhase.String(phase)))
}

// RecordAuthnVerification counts one token verification. outcome is one
// of the fixed outcomes package authn defines (authn.VerifyOutcome).
func (m *Metrics) RecordAuthnVerification(ctx context.Context, outcome string, cached bool) {
	if m == nil {
		return
	}
	m.authn.Add(ctx, 1, metric.WithAttributes(AttrOutcome.String(outcome), AttrCached.Bool(cached)))
}

// RecordSessionRestore counts one attempt to take over a sealed session.
// outcome is one of the fixed take-over outcomes package gateway defines.
func (m *Metrics) RecordSessionRestore(ctx context.Context, outcome string) {
	if m == nil {
		return
	}
	m.restored.Add(ctx, 1, metric.WithAttributes(AttrOutcome.String(outcome)))
}

// RegisterSessionsGauge makes fn the source of mcpgate.sessions.active:
// it is called at each collection and returns the sessions open now. (The
// gateway counts its sessions; the SDK offers no hook for a session that
// ends, which an up-down counter would need.)
func RegisterSessionsGauge(m *Metrics, fn func() int64) (metric.Registration, error) {
	if m == nil {
		return metricnoop.Registration{}, nil
	}
	return m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(m.sessions, fn())
		return nil
	}, m.sessions)
}

// RegisterUpstreamGauge makes fn the source of mcpgate.upstream.up: it is
// called at each collection and returns reachability per configured
// upstream name. Unregister the returned registration to stop.
func RegisterUpstreamGauge(m *Metrics, fn func() map[string]bool) (metric.Registration, error) {
	if m == nil {
		return metricnoop.Registration{}, nil
	}
	return m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for server, up := range fn() {
			var v int64
			if up {
				v = 1
			}
			o.ObserveInt64(m.upstreamUp, v, metric.WithAttributes(AttrServer.String(server)))
		}
		return nil
	}, m.upstreamUp)
}

// RegisterDecisionLogDropped makes fn the source of the cumulative
// mcpgate.decision_log.dropped count.
func RegisterDecisionLogDropped(m *Metrics, fn func() int64) (metric.Registration, error) {
	if m == nil {
		return metricnoop.Registration{}, nil
	}
	return m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(m.decisionLogDropped, fn())
		return nil
	}, m.decisionLogDropped)
}

// Limits (config limits.*) and what enforcing them did, the values of the
// limit and action attributes of mcpgate.limits.enforced.
const (
	LimitMaxConnections     = "max_connections"
	LimitSessionsPerUser    = "sessions_per_user"
	LimitMaxInitializeBytes = "max_initialize_bytes"
	// LimitRatePrefix starts the limit of a rate limit of limits.rate:
	// "rate_user", "rate_user_tool", "rate_client", "rate_server".
	LimitRatePrefix = "rate_"

	LimitActionEvicted = "evicted" // something held was closed to make room
	LimitActionRefused = "refused" // the new request or connection was refused
)

// RecordLimit counts one enforcement of a limit.
func (m *Metrics) RecordLimit(ctx context.Context, limit, action string) {
	if m == nil {
		return
	}
	m.limits.Add(ctx, 1, metric.WithAttributes(attribute.String("limit", limit), attribute.String("action", action)))
}

// Outcomes of an upstream credential request, the values of the outcome
// attribute of mcpgate.upstream.token.requests.
const (
	UpstreamTokenCached  = "cached"  // a cached token was still valid
	UpstreamTokenFetched = "fetched" // a new token was obtained
	UpstreamTokenFailed  = "failed"  // obtaining one failed
)

// RecordUpstreamToken counts one upstream credential request of server (a
// configured upstream name; never a user).
func (m *Metrics) RecordUpstreamToken(ctx context.Context, server, outcome string) {
	if m == nil {
		return
	}
	m.upstreamTokens.Add(ctx, 1, metric.WithAttributes(AttrServer.String(server), AttrOutcome.String(outcome)))
}

// RecordApprovalChange counts one upstream item found not approved by the
// lock file: kind is "tool", "prompt", "resource" or "resource template",
// state "modified" or "new", action "quarantined" or "served".
func (m *Metrics) RecordApprovalChange(ctx context.Context, server, kind, state, action string) {
	if m == nil {
		return
	}
	m.approvalChanges.Add(ctx, 1, metric.WithAttributes(AttrServer.String(server), attribute.String("kind", kind),
		attribute.String("state", state), attribute.String("action", action)))
}

// Reasons an item that is not approved was used (RecordApprovalUse).
const (
	ApprovalUseWarn   = "warn"   // the server's approval mode is warn
	ApprovalUsePolicy = "policy" // the policy allowed it (allow_unapproved)
)

// RecordApprovalUse counts one call of an item the lock file does not
// approve that was let through, and why.
func (m *Metrics) RecordApprovalUse(ctx context.Context, server, kind, reason string) {
	if m == nil {
		return
	}
	m.approvalUses.Add(ctx, 1, metric.WithAttributes(AttrServer.String(server), attribute.String("kind", kind),
		attribute.String("reason", reason)))
}
