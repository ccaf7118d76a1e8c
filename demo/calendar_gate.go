package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/mcpgate/mcpgate/authn"
)

const (
	// maxCalendarBody bounds a POST to the calendar's /mcp; a longer body
	// is answered 413.
	maxCalendarBody = 1 << 20
	// maxSeenAuthorization bounds the Authorization headers remembered for
	// [Calendar.SeenAuthorization].
	maxSeenAuthorization = 1000
)

// toolScopes is the scope each calendar tool needs. A call to any other
// tool needs a valid token and no particular scope (the server then
// answers that the tool is unknown).
var toolScopes = map[string]string{
	"list_events":  ScopeCalendarRead,
	"create_event": ScopeCalendarWrite,
}

// need is what a request needs to pass the calendar's gate.
type need struct {
	// anonymous means the request is discovery only (isDiscovery), a GET
	// (the standalone stream) or a DELETE (ending a session).
	anonymous bool
	// scopes are the scopes the request's tool calls need.
	scopes []string
}

// calendarGate admits requests to /mcp: discovery anonymously (unless
// every request must carry a token), everything else with a valid token
// (authn's bearer middleware: 401 with the RFC 6750 challenge) holding the
// scopes of the tools it calls (403 insufficient_scope). A request that
// carries a token has it verified even when it needs none.
type calendarGate struct {
	requireToken bool
	bearer       func(http.Handler) http.Handler
	challenge    authn.MiddlewareOptions
	seen         *authLog
}

func newCalendarGate(v *authn.Verifier, challenge authn.MiddlewareOptions, requireToken bool, seen *authLog) *calendarGate {
	return &calendarGate{requireToken: requireToken, bearer: authn.Middleware(v, challenge), challenge: challenge, seen: seen}
}

type needKey struct{}

func (g *calendarGate) wrap(next http.Handler) http.Handler {
	authed := g.bearer(g.checkScopes(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.seen.add(r.Header.Values("Authorization"))
		n, ok := readNeed(w, r)
		if !ok {
			return
		}
		bare := len(r.Header.Values("Authorization")) == 0 && r.URL.RawQuery == ""
		if n.anonymous && bare && !g.requireToken {
			next.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), needKey{}, n)))
	})
}

// checkScopes answers 403 insufficient_scope, naming the scopes the
// request needs, when the verified token lacks one of them.
func (g *calendarGate) checkScopes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := r.Context().Value(needKey{}).(need)
		id, ok := authn.FromContext(r.Context())
		if !ok { // cannot happen behind the bearer middleware: fail closed
			http.Error(w, "calendar: no verified caller", http.StatusUnauthorized)
			return
		}
		for _, s := range n.scopes {
			if !slices.Contains(id.Scopes, s) {
				authn.WriteInsufficientScope(w, g.challenge, n.scopes, "this call needs "+strings.Join(n.scopes, " "))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// readNeed works out what r needs. A POST body is read (up to
// maxCalendarBody) and put back for the MCP handler; a body too large, or
// one the gate cannot read unambiguously, is answered here and ok is false.
func readNeed(w http.ResponseWriter, r *http.Request) (need, bool) {
	if r.Method != http.MethodPost {
		return need{anonymous: r.Method == http.MethodGet || r.Method == http.MethodDelete}, true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCalendarBody+1))
	switch {
	case err != nil:
		writeRPCError(w, http.StatusBadRequest, -32700, "calendar: cannot read the request body")
		return need{}, false
	case len(body) > maxCalendarBody:
		w.Header().Set("Connection", "close")
		writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("calendar: the request body exceeds %d bytes", maxCalendarBody))
		return need{}, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	n, err := needOf(body)
	if err != nil {
		writeRPCError(w, http.StatusBadRequest, -32600, "calendar: "+err.Error())
		return need{}, false
	}
	return n, true
}

// needOf reads the JSON-RPC message or batch in body. It refuses what the
// MCP handler could read differently (a key given twice), so that the
// scopes checked are those of the tools actually called.
func needOf(body []byte) (need, error) {
	var raws []json.RawMessage
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(body, &raws); err != nil || len(raws) == 0 {
			return need{}, errors.New("the body must be a JSON-RPC message or a non-empty batch")
		}
	} else {
		raws = []json.RawMessage{body}
	}
	n := need{anonymous: true}
	for _, raw := range raws {
		method, scope, err := messageNeed(raw)
		if err != nil {
			return need{}, err
		}
		n.anonymous = n.anonymous && isDiscovery(method)
		if scope != "" && !slices.Contains(n.scopes, scope) {
			n.scopes = append(n.scopes, scope)
		}
	}
	return n, nil
}

// messageNeed returns the method of one message and, for tools/call, the
// scope its tool needs.
func messageNeed(raw json.RawMessage) (method, scope string, err error) {
	msg, err := strictObject(raw)
	if err != nil {
		return "", "", fmt.Errorf("message: %w", err)
	}
	if m, ok := msg["method"]; ok && json.Unmarshal(m, &method) != nil {
		return "", "", errors.New("message: method must be a string")
	}
	if method != "tools/call" {
		return method, "", nil
	}
	params, err := strictObject(msg["params"])
	if err != nil {
		return "", "", fmt.Errorf("tools/call params: %w", err)
	}
	var name string
	if json.Unmarshal(params["name"], &name) != nil {
		return "", "", errors.New("tools/call params: name must be a string")
	}
	return method, toolScopes[name], nil
}

// strictObject decodes a JSON object whose keys each appear once.
func strictObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("must be a JSON object")
	}
	obj := make(map[string]json.RawMessage)
	for dec.More() {
		t, err := dec.Token()
		key, isKey := t.(string)
		if err != nil || !isKey {
			return nil, errors.New("must be a JSON object")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("must be valid JSON")
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("key %q appears more than once", key)
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("must be valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("must hold one JSON value")
	}
	return obj, nil
}

// isDiscovery reports whether method may be called anonymously:
// server/discover and subscriptions/listen are the 2026-07-28 revision's
// initialize and standalone stream.
func isDiscovery(method string) bool {
	switch method {
	case "initialize", "ping", "tools/list", "server/discover", "subscriptions/listen":
		return true
	}
	return strings.HasPrefix(method, "notifications/")
}

// writeRPCError answers with a JSON-RPC error that has no id.
func writeRPCError(w http.ResponseWriter, status, code int, msg string) {
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": code, "message": msg},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// authLog remembers the latest Authorization header values.
type authLog struct {
	mu  sync.Mutex
	buf []string
	max int
}

func newAuthLog(max int) *authLog { return &authLog{max: max} }

func (l *authLog) add(vs []string) {
	if len(vs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, vs...)
	if over := len(l.buf) - l.max; over > 0 {
		l.buf = slices.Delete(l.buf, 0, over)
	}
}

func (l *authLog) values() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.buf)
}
