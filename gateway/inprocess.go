package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// reinitialize runs the initialize handshake with params through h, the
// SDK's stateful handler, as the caller of r, and returns the new local
// session id (also with an error, if the session exists but the handshake
// failed, so that it can be closed).
func reinitialize(ctx context.Context, h http.Handler, r *http.Request, params json.RawMessage) (string, error) {
	body := append(append([]byte(`{"jsonrpc":"2.0","id":"mcpgate-restore","method":"initialize","params":`), params...), '}')
	rec, err := internalRequest(ctx, h, r, body, nil)
	if err != nil {
		return "", err
	}
	local := rec.header.Get(sessionIDHeader)
	if rec.status != http.StatusOK {
		return local, fmt.Errorf("initialize answered HTTP %d: %s", rec.status, bytes.TrimSpace(rec.body.Bytes()))
	}
	if local == "" {
		return "", errors.New("initialize answered without a session id")
	}
	var resp struct {
		Result *mcp.InitializeResult `json:"result"`
		Error  *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.message(), &resp); err != nil {
		return local, fmt.Errorf("initialize answered an unreadable response: %w", err)
	}
	if resp.Error != nil || resp.Result == nil {
		msg := "no result"
		if resp.Error != nil {
			msg = resp.Error.Message
		}
		return local, fmt.Errorf("initialize failed: %s", msg)
	}
	rec, err = internalRequest(ctx, h, r, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), http.Header{
		sessionIDHeader:        {local},
		"Mcp-Protocol-Version": {resp.Result.ProtocolVersion},
	})
	if err != nil {
		return local, err
	}
	if rec.status != http.StatusAccepted && rec.status != http.StatusOK {
		return local, fmt.Errorf("notifications/initialized answered HTTP %d", rec.status)
	}
	return local, nil
}

// internalRequest POSTs body to h as if r's client had sent it, and
// records the response. ctx carries r's caller (its identity and token),
// but the envelope is body's own: an internal request is never taken for
// the client's (found in review: the fast path served the client's
// tools/call as the internal notifications/initialized of a take-over,
// and the call ran twice; the deferred step-up answered the client's
// challenge into the internal initialize).
func internalRequest(ctx context.Context, h http.Handler, r *http.Request, body []byte, hdr http.Header) (*recorder, error) {
	ctx = context.WithValue(ctx, envelopeKey{}, parseEnvelope(body))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("internal request: %w", err)
	}
	req.Host, req.RemoteAddr = r.Host, r.RemoteAddr
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec, nil
}

// recorder is the http.ResponseWriter of an internal request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) Flush() {}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// message returns the JSON-RPC message of a response, plain JSON or the
// first data field of an event stream.
func (r *recorder) message() []byte {
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		return r.body.Bytes()
	}
	return firstSSEData(r.body.Bytes())
}
