package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// statelessVersion is the first protocol revision without sessions; requests
// that announce it or a later one are served statelessly.
const statelessVersion = "2026-07-28"

// Handler returns the gateway's HTTP handler: /mcp, /healthz and /readyz.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/mcp", g.mcp)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", g.serveReady)
	for pattern, h := range g.opts.Routes {
		mux.Handle(pattern, g.ClientAddressed(h))
	}
	return mux
}

// mcpHandler serves both protocol eras on one path: the SDK's stateless
// handler for 2026-07-28 and later, its stateful (session) handler for the
// 2025 revisions, chosen by the MCP-Protocol-Version header.
func (g *Gateway) mcpHandler() http.Handler {
	limit := int64(g.cfg.MaxRequestBytes)
	// Idle sessions are closed by the registry (idleSweep), which sees
	// the requests the fast path serves without the SDK.
	// No EventStore: with the go-sdk v1.8.0's, conformance runs now and then
	// left a request of a 2025 session unanswered (resume.go).
	var stateful http.Handler = mcp.NewStreamableHTTPHandler(g.viewFor, &mcp.StreamableHTTPOptions{
		MaxRequestBodyBytes: limit,
		Logger:              g.log,
	})
	stateless := mcp.NewStreamableHTTPHandler(g.viewFor, &mcp.StreamableHTTPOptions{
		Stateless:                    true,
		MaxRequestBodyBytes:          limit,
		PropagateRequestCancellation: true,
		Logger:                       g.log,
	})
	stateful = g.sameIdentity(g.fastPath(stateful, true))
	fastStateless := g.fastPath(stateless, false)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.withClientAddress(r)
		if counted(r) {
			if !g.inflight.add() {
				writeShuttingDown(w)
				return
			}
			defer g.inflight.done()
		}
		w.Header().Set("X-Accel-Buffering", "no")
		if v := r.Header.Get("Mcp-Protocol-Version"); v >= statelessVersion {
			fastStateless.ServeHTTP(w, g.withRequestID(r))
			return
		}
		if g.sessions != nil {
			g.sessions.serve(stateful, w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
	h = g.stepUpChallenge(h)
	h = g.rateLimit(h)    // limits.rate: after sign-in and the envelope, before anything decides
	h = g.readEnvelope(h) // inside sign-in: no body is read before it
	for i := len(g.opts.HTTPMiddleware) - 1; i >= 0; i-- {
		h = g.opts.HTTPMiddleware[i](h)
	}
	if g.opts.TracerProvider != nil {
		// The HTTP server span, outermost: it also covers sign-in, and its
		// context (from the traceparent header) parents the MCP span of a
		// 2026-07-28 request that carries no trace context in _meta.
		h = otelhttp.NewHandler(h, "mcpgate", otelhttp.WithTracerProvider(g.opts.TracerProvider),
			otelhttp.WithPropagators(g.propagator),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " /mcp" }))
	}
	return h
}

// counted reports whether shutdown waits for a request: every POST except a
// 2026-07-28 subscriptions/listen, which, like a GET event stream, lasts as
// long as the session and is ended by closing it.
func counted(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("Mcp-Method") != "subscriptions/listen"
}

func writeShuttingDown(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Retry-After", "1")
	writeJSONRPCError(w, http.StatusServiceUnavailable, -32603, "mcpgate is shutting down; retry the request")
}

func writeJSONRPCError(w http.ResponseWriter, status, code int, msg string) {
	writeJSONRPCErrorID(w, status, nil, code, msg)
}

// writeJSONRPCErrorID answers the request with id (a JSON-RPC id from the
// client; anything but a string or number, or none, answers with null).
func writeJSONRPCErrorID(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(jsonrpcError(id, code, msg))
}

// writeJSONRPCErrorsID answers a batch: an array of the same error, one
// for each of ids (JSON-RPC 2.0 §6).
func writeJSONRPCErrorsID(w http.ResponseWriter, status int, ids []json.RawMessage, code int, msg string) {
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		out[i] = jsonrpcError(id, code, msg)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(out)
}

// jsonrpcError is a JSON-RPC error response to id; an id that is not a
// string or a number is answered as null.
func jsonrpcError(id json.RawMessage, code int, msg string) map[string]any {
	if len(id) == 0 || (id[0] != '"' && id[0] != '-' && (id[0] < '0' || id[0] > '9')) {
		id = json.RawMessage("null")
	}
	return map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error":   map[string]any{"code": code, "message": msg},
	}
}

func writeTooLarge(w http.ResponseWriter, size, limit int64) {
	writeJSONRPCError(w, http.StatusRequestEntityTooLarge, -32600,
		fmt.Sprintf("request body of %d bytes exceeds the gateway's limit of %d bytes (max_request_bytes)", size, limit))
}

// UpstreamStatus is one upstream's entry in /readyz.
type UpstreamStatus struct {
	Name            string    `json:"name"`
	State           State     `json:"state"`
	Since           time.Time `json:"since"`
	Error           string    `json:"error,omitempty"`
	ProtocolVersion string    `json:"protocol_version,omitempty"`
	Tools           int       `json:"tools"`
	Prompts         int       `json:"prompts"`
	Resources       int       `json:"resources"`
	Templates       int       `json:"resource_templates"`
	Skipped         []string  `json:"skipped,omitempty"`
	// Credential is how the gateway authenticates to the upstream
	// (servers[].auth.kind, or "none"); a credential that cannot be
	// obtained shows as the upstream's Error, never its value.
	Credential string `json:"credential"`
	// EmployeeSessions counts the per-employee upstream sessions open on
	// this replica, for credentials that name the employee.
	EmployeeSessions int `json:"employee_sessions,omitempty"`
	// Approval is the server's approval mode when it is not off
	// (docs/approval.md); Quarantined lists its items that await
	// approval and are held back (mode enforce), Unapproved those served
	// all the same (mode warn): "tool read_note (modified)".
	Approval    string   `json:"approval,omitempty"`
	Quarantined []string `json:"quarantined,omitempty"`
	Unapproved  []string `json:"unapproved,omitempty"`
}

// Status is the body of /readyz.
type Status struct {
	Ready      bool             `json:"ready"`
	Upstreams  []UpstreamStatus `json:"upstreams"`
	Collisions []string         `json:"collisions,omitempty"`
	Policy     *policy.Status   `json:"policy,omitempty"`
	// Lock is the lock file's status when approval is on.
	Lock *LockStatus `json:"approval_lock,omitempty"`
}

// Status reports the gateway's readiness and every upstream's state. The
// gateway is ready once its configuration and its policy are loaded: an
// unavailable upstream makes its features leave the lists, not the gateway
// unready; a broken policy update keeps the last good policy and shows here.
func (g *Gateway) Status() Status {
	s := Status{Ready: true, Collisions: g.catalog().collisions}
	if p, ok := g.opts.Authorizer.(interface {
		Status() policy.Status
		Ready() bool
	}); ok {
		st := p.Status()
		s.Policy, s.Ready = &st, p.Ready()
	}
	for _, u := range g.ups {
		s.Upstreams = append(s.Upstreams, u.status())
	}
	s.Lock = g.lockStatus.Load()
	return s
}

func (g *Gateway) serveReady(w http.ResponseWriter, r *http.Request) {
	s := g.Status()
	w.Header().Set("Content-Type", "application/json")
	if !s.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if !g.cfg.ReadyzDetail {
		enc.Encode(struct {
			Ready bool `json:"ready"`
		}{s.Ready})
		return
	}
	enc.Encode(s)
}
