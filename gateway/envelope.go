package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate/telemetry"
)

// envelope is what the gateway reads of a POSTed JSON-RPC message before
// the SDK handles it: the body is read once, at the edge, and every step
// that looks at it (the scope step-up look-ahead, the request id of the MCP
// span, the sealing of a new session) uses this instead of reading it
// again. The SDK parses the body itself.
type envelope struct {
	// Body is the whole request body.
	Body []byte
	// ID, Method and Params are those of a single JSON-RPC message; empty
	// for a batch or a body that is not a JSON object.
	ID     json.RawMessage
	Method string
	Params json.RawMessage
}

type envelopeKey struct{}

// envelopeOf returns the envelope readEnvelope stored in ctx, or nil (a
// GET, a DELETE).
func envelopeOf(ctx context.Context) *envelope {
	e, _ := ctx.Value(envelopeKey{}).(*envelope)
	return e
}

// hasID reports whether the message is a request (it has a non-null id).
func (e *envelope) hasID() bool { return len(e.ID) > 0 && string(e.ID) != "null" }

// parseEnvelope parses the envelope of body. A body that is not a single
// JSON-RPC message gives an envelope with only Body set: the SDK answers
// it.
func parseEnvelope(body []byte) *envelope {
	e := &envelope{Body: body}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(body, &msg) == nil {
		e.ID, e.Method, e.Params = msg.ID, msg.Method, msg.Params
	}
	return e
}

// batchedInitialize reports whether body is a batch holding an initialize
// (which the protocol forbids, and which would escape the initialize size
// limit). Batches are rare (the 2025-03-26 revision only), so their
// second parse costs nothing on the usual path.
func batchedInitialize(body []byte) bool {
	if len(body) == 0 || body[0] != '[' {
		return false
	}
	var batch []struct {
		Method string `json:"method"`
	}
	if json.Unmarshal(body, &batch) != nil {
		return false // the SDK refuses it
	}
	for _, m := range batch {
		if m.Method == "initialize" {
			return true
		}
	}
	return false
}

// readEnvelope reads the body of a POST to /mcp once, up to the gateway's
// limit (413 beyond it, with the limit stated), parses its envelope and
// passes the request on with a body that replays what was read. A body
// whose JSON parsers could disagree on (checkStrictJSON) is refused. It
// runs after sign-in: an unauthenticated request's body is never read.
func (g *Gateway) readEnvelope(next http.Handler) http.Handler {
	limit := int64(g.cfg.MaxRequestBytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			writeTooLarge(w, r.ContentLength, limit)
			return
		}
		// A body must arrive within body_read_timeout; the deadline is
		// lifted before the response, which may be a long event stream.
		// (Not after a failed read: the server would wait for the rest of
		// the body before answering.)
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(time.Duration(g.cfg.Limits.BodyReadTimeout))); err != nil {
			g.deadlineWarning.Do(func() {
				g.log.Warn("limits.body_read_timeout is not enforced: an HTTP middleware wraps the response writer without Unwrap",
					"error", err)
			})
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		switch {
		case err != nil:
			w.Header().Set("Connection", "close")
			writeJSONRPCError(w, http.StatusBadRequest, -32700, "mcpgate: cannot read the request body: "+err.Error()+
				" (it must arrive within limits.body_read_timeout)")
			return
		case int64(len(body)) > limit:
			w.Header().Set("Connection", "close")
			writeTooLarge(w, int64(len(body)), limit)
			return
		}
		rc.SetReadDeadline(time.Time{})
		e := parseEnvelope(body)
		if err := checkStrictJSON(body); err != nil {
			if errors.Is(err, errSyntax) {
				writeJSONRPCErrorID(w, http.StatusBadRequest, nil, -32700, "mcpgate: parse error: the body is "+err.Error())
				return
			}
			writeAmbiguous(w, e.ID, err)
			return
		}
		if batchedInitialize(body) {
			writeJSONRPCErrorID(w, http.StatusBadRequest, nil, -32600, "mcpgate: initialize cannot be sent in a batch; send it alone")
			return
		}
		if e.Method == "initialize" && int64(len(e.Params)) > int64(g.cfg.Limits.MaxInitializeBytes) {
			g.opts.Metrics.RecordLimit(r.Context(), telemetry.LimitMaxInitializeBytes, telemetry.LimitActionRefused)
			writeJSONRPCErrorID(w, http.StatusBadRequest, e.ID, -32602, fmt.Sprintf(
				"mcpgate: initialize parameters of %d bytes exceed the gateway's limit of %d bytes (limits.max_initialize_bytes)",
				len(e.Params), g.cfg.Limits.MaxInitializeBytes))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), envelopeKey{}, e))
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// writeAmbiguous refuses a request whose JSON parsers could read
// differently: HTTP 400 with JSON-RPC error -32600 (invalid request).
func writeAmbiguous(w http.ResponseWriter, id json.RawMessage, err error) {
	writeJSONRPCErrorID(w, http.StatusBadRequest, id, -32600,
		"mcpgate: "+err.Error()+": send each key of an object once, in one spelling, and only valid UTF-8")
}
