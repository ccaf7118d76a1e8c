package gateway

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate/approval"

	"github.com/mcpgate/mcpgate/connections"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/store"
	"github.com/mcpgate/mcpgate/telemetry"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Options are the parts of a gateway that are not configuration data: the
// seams where authentication, policy and telemetry plug in, and knobs for
// tests. A nil *Options means all defaults.
type Options struct {
	// Logger receives the gateway's logs. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Lock is the lock file the upstreams are compared with
	// (approval.lock_file, docs/approval.md); SetLock replaces it. It is
	// required when a server's approval mode is not off (New returns
	// ErrNoLock): a gateway told to pin must never run with nothing to
	// pin against.
	Lock *approval.Loaded
	// SDKForwarding sends every request through the SDK's server and
	// client, as before the fast path (fastcall.go): for comparisons.
	SDKForwarding bool
	// Version is reported as the server and client version. If empty, "dev".
	Version string
	// Instructions are sent to clients in the initialize result.
	Instructions string

	// HTTPMiddleware wraps the /mcp endpoint, outermost first. Authentication
	// plugs in here.
	HTTPMiddleware []func(http.Handler) http.Handler
	// Routes are extra handlers on the gateway's listener, by ServeMux
	// pattern: protected-resource metadata, the development identity
	// provider. They are not wrapped by HTTPMiddleware.
	Routes map[string]http.Handler
	// Authorizer decides every phase. It is required: New refuses a nil
	// one. `mcpgate serve` passes the policy engine; a deliberately open
	// gateway (tests, local experiments) passes [AllowAll].
	Authorizer Authorizer
	// ScopeChallenge writes the HTTP 403 insufficient_scope challenge for a
	// request whose decision requires scopes the token lacks. If nil, such
	// requests are only denied.
	ScopeChallenge func(w http.ResponseWriter, scopes []string, description string)
	// Catalogue is the scope catalogue of the configuration (config
	// scopes, as policy.Scope with their levels set). The input of every
	// call-phase decision carries the entries for the target's server and
	// for "*" (Input.Catalogue), so that the policy can require them. If
	// empty, no input carries any.
	Catalogue []policy.Scope
	// MaxViews bounds the number of cached per-caller views; views without
	// sessions are dropped first. If zero, 10000.
	MaxViews int

	// PageSize is the number of items per page of the lists clients see. If
	// zero, the SDK's default (1000) is used.
	PageSize int

	// TracerProvider, Propagator and Metrics carry the gateway's telemetry.
	// If nil, no spans are recorded, trace context is W3C tracecontext and
	// baggage, and no metrics are recorded.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	Metrics        *telemetry.Metrics
	// SpanIdentity is what SERVER spans record about the caller. If empty,
	// nothing.
	SpanIdentity telemetry.IdentityMode

	// Transport carries requests to upstreams. If nil, a clone of
	// http.DefaultTransport is used.
	Transport http.RoundTripper
	// ProbeInterval is how often an idle upstream session is checked. If
	// zero, 15s.
	ProbeInterval time.Duration
	// HeaderRecheck is how often an upstream's configured headers are read
	// again from their files and variables while its session lasts, so a
	// rotated Secret takes effect without a reconnect. If zero,
	// DefaultHeaderRecheck (10s).
	HeaderRecheck time.Duration

	// UpstreamTokenMargin is how long before its expiry an upstream's
	// client credentials token is replaced by a new one. A margin longer
	// than a token's lifetime fetches a token for every request. If zero,
	// DefaultUpstreamTokenMargin (30s).
	UpstreamTokenMargin time.Duration
	// Connections keeps employees' tokens for upstreams of auth kind oauth
	// and runs the connect flow; New refuses such an upstream without it.
	Connections *connections.Manager

	// AssertionKeys sign the identity assertions sent to upstreams of auth
	// kind identity_assertion; New refuses such an upstream without them.
	// Serve them at AssertionJWKSPath (Routes) for upstreams to verify.
	AssertionKeys *AssertionKeys
	// EmployeeSessions bounds the per-employee sessions of one upstream of
	// auth kind identity_assertion: opening one more closes the least
	// recently used that no call is using. If zero,
	// DefaultEmployeeSessions (100).
	EmployeeSessions int
	// EmployeeSessionIdle closes a per-employee upstream session unused for
	// this long. If zero, DefaultEmployeeSessionIdle (5m).
	EmployeeSessionIdle time.Duration
	// MinBackoff and MaxBackoff bound the delay between reconnection
	// attempts. If zero, 250ms and 30s.
	MinBackoff, MaxBackoff time.Duration

	// SessionKeys seal stateful sessions into their ids so that every
	// replica holding the same keys can serve them; the first seals, every
	// key opens (config.Provisioned.SessionKeys). If empty, sessions live
	// only on the replica that created them.
	SessionKeys [][]byte
	// Store keeps the session ids ended by DELETE, which every replica
	// sharing it then refuses to take over. It is required with
	// SessionKeys: New refuses sealed sessions without one. It also keeps
	// the upstreams' tasks the gateway's clients poll (tasks.go; in memory
	// without a store). The caller owns it (closes it after the gateway).
	Store store.Store
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

func (o *Options) version() string {
	if o.Version == "" {
		return "dev"
	}
	return o.Version
}

func (o *Options) transport() http.RoundTripper {
	if o.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Calls to one upstream in parallel keep their connections: Go's
		// default of 2 idle connections per host would close and dial
		// again under any load (each transport serves one upstream).
		t.MaxIdleConnsPerHost = maxIdleUpstreamConns
		return t
	}
	return o.Transport
}

// maxIdleUpstreamConns bounds the idle connections kept to one upstream.
const maxIdleUpstreamConns = 64

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (o *Options) probeInterval() time.Duration { return orDefault(o.ProbeInterval, 15*time.Second) }

func (o *Options) headerRecheck() time.Duration {
	return orDefault(o.HeaderRecheck, DefaultHeaderRecheck)
}

func (o *Options) upstreamTokenMargin() time.Duration {
	return orDefault(o.UpstreamTokenMargin, DefaultUpstreamTokenMargin)
}

func (o *Options) employeeSessions() int {
	if o.EmployeeSessions <= 0 {
		return DefaultEmployeeSessions
	}
	return o.EmployeeSessions
}

func (o *Options) employeeSessionIdle() time.Duration {
	return orDefault(o.EmployeeSessionIdle, DefaultEmployeeSessionIdle)
}

func (o *Options) minBackoff() time.Duration { return orDefault(o.MinBackoff, 250*time.Millisecond) }

func (o *Options) maxBackoff() time.Duration { return orDefault(o.MaxBackoff, 30*time.Second) }
