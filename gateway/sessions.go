package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Sealed sessions let any replica serve a stateful (2025 revisions) client
// session. The state a session needs beyond the caller's token is what the
// client said in initialize; the gateway seals it, with the caller's user
// id and the time, into the session id it gives the client (AES-256-GCM
// under a key every replica shares). A replica that does not know a
// session id opens it and re-initialises a local session from the sealed
// state before serving the request; the client notices nothing.
//
// What does not travel: a session's logging level (back to the default)
// and its resource subscriptions (sent by the replica that took them), and
// a GET event stream stays with the replica it was opened on, as any
// long-lived HTTP response does.
//
// The SDK names sessions itself, so each replica maps the sealed id the
// client knows to the id of its local session, and rewrites the header.
// The local ids appear in the gateway's logs, spans and decision log.

const (
	sessionIDHeader = "Mcp-Session-Id"

	// sealedSessionLifetime bounds how long after its creation a sealed
	// session id can be taken over by another replica; past it, the
	// client gets 404 there and initialises a new session.
	sealedSessionLifetime = 24 * time.Hour
	// sealedClockSkew is how far in the future a sealed creation time may
	// lie (clocks of replicas differ).
	sealedClockSkew = 5 * time.Minute
	// maxSealedParams bounds the initialize parameters sealed into an id,
	// which every request then carries in a header. Larger ones (huge
	// experimental capabilities) leave the session on its replica.
	maxSealedParams = 4 << 10
	// maxSealedIDLen bounds the session ids the gateway tries to open.
	maxSealedIDLen = 8 << 10

	sealFormat    byte = 1
	kidLen             = 4
	nonceLen           = 12
	sealHeaderLen      = 1 + kidLen + nonceLen
)

var (
	errSealInvalid = errors.New("not a session id sealed by a key of this gateway")
	errSealExpired = errors.New("sealed session is too old")
)

// sealedState is what a session id carries.
type sealedState struct {
	// User is the session's go-sdk user id (the caller's issuer and
	// subject), empty without sign-in.
	User string `json:"u,omitempty"`
	// Created is when the session was initialised, in Unix seconds.
	Created int64 `json:"t"`
	// Params are the client's initialize parameters, without _meta.
	Params json.RawMessage `json:"p"`
}

// sealer seals and opens session state. The first key seals; every key
// opens, chosen by the key id in the sealed bytes.
type sealer struct {
	aad   []byte
	kid   [kidLen]byte
	aeads map[[kidLen]byte]cipher.AEAD
	now   func() time.Time
}

// newSealer returns a sealer for keys (32 bytes each, the first sealing)
// bound to resource, the gateway's MCP URL: an id sealed for another
// deployment with the same key does not open here.
func newSealer(keys [][]byte, resource string) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no session key")
	}
	s := &sealer{
		aad:   []byte("mcpgate session\x00" + resource),
		aeads: make(map[[kidLen]byte]cipher.AEAD, len(keys)),
		now:   time.Now,
	}
	for i, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("session key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("session key %d: %w", i+1, err)
		}
		id := keyID(k)
		if i == 0 {
			s.kid = id
		}
		if _, dup := s.aeads[id]; !dup {
			s.aeads[id] = aead
		}
	}
	return s, nil
}

func keyID(key []byte) (id [kidLen]byte) {
	h := sha256.New()
	h.Write([]byte("mcpgate session key id\x00"))
	h.Write(key)
	copy(id[:], h.Sum(nil))
	return id
}

// seal returns st as a session id: base64url of format byte, key id,
// nonce and the AES-GCM ciphertext, the first three also authenticated.
func (s *sealer) seal(st *sealedState) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	aead := s.aeads[s.kid]
	buf := make([]byte, sealHeaderLen, sealHeaderLen+len(plain)+aead.Overhead())
	buf[0] = sealFormat
	copy(buf[1:], s.kid[:])
	if _, err := rand.Read(buf[1+kidLen : sealHeaderLen]); err != nil {
		return "", err
	}
	buf = aead.Seal(buf, buf[1+kidLen:sealHeaderLen], plain, s.additional(buf[:sealHeaderLen]))
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// open authenticates and decrypts a session id. Any failure is
// errSealInvalid or errSealExpired, saying nothing more to the caller.
func (s *sealer) open(id string) (*sealedState, error) {
	if len(id) > maxSealedIDLen {
		return nil, errSealInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) < sealHeaderLen || raw[0] != sealFormat {
		return nil, errSealInvalid
	}
	aead, ok := s.aeads[[kidLen]byte(raw[1:1+kidLen])]
	if !ok || len(raw) < sealHeaderLen+aead.Overhead() {
		return nil, errSealInvalid
	}
	plain, err := aead.Open(nil, raw[1+kidLen:sealHeaderLen], raw[sealHeaderLen:], s.additional(raw[:sealHeaderLen]))
	if err != nil {
		return nil, errSealInvalid
	}
	var st sealedState
	if err := json.Unmarshal(plain, &st); err != nil || len(st.Params) == 0 {
		return nil, errSealInvalid
	}
	created := time.Unix(st.Created, 0)
	if now := s.now(); now.Sub(created) > sealedSessionLifetime || created.Sub(now) > sealedClockSkew {
		return nil, errSealExpired
	}
	return &st, nil
}

func (s *sealer) additional(header []byte) []byte {
	return append(append([]byte(nil), header...), s.aad...)
}

// sessionTable maps the sealed session ids clients know to the local
// sessions of this replica, taking over the sessions of other replicas.
type sessionTable struct {
	g      *Gateway
	sealer *sealer

	mu        sync.Mutex
	local     map[string]string // sealed id → local SDK session id
	restoring map[string]*restoreCall
}

type restoreCall struct {
	done   chan struct{}
	local  string
	status int // 0 on success, else the HTTP status to answer
	msg    string
}

func newSessionTable(g *Gateway, keys [][]byte) (*sessionTable, error) {
	s, err := newSealer(keys, g.cfg.MCPURL())
	if err != nil {
		return nil, err
	}
	return &sessionTable{g: g, sealer: s, local: map[string]string{}, restoring: map[string]*restoreCall{}}, nil
}

// serve serves a request of the stateful era through h, the SDK's stateful
// handler, translating session ids.
func (t *sessionTable) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(sessionIDHeader)
	if id == "" {
		if r.Method == http.MethodPost {
			t.serveNew(h, w, r)
			return
		}
		h.ServeHTTP(w, r) // the SDK answers 400 or 405
		return
	}
	local, status, msg := t.localID(h, r, id)
	if status != 0 {
		http.Error(w, msg, status)
		return
	}
	r.Header.Set(sessionIDHeader, local)
	h.ServeHTTP(w, r)
}

// serveNew serves a POST without session id: an initialize, whose
// response gets a sealed session id.
func (t *sessionTable) serveNew(h http.Handler, w http.ResponseWriter, r *http.Request) {
	limit := int64(t.g.cfg.MaxRequestBytes)
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	}
	if int64(len(body)) > limit {
		writeTooLarge(w, int64(len(body)), limit)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	params := sealableParams(body)
	if params == nil {
		h.ServeHTTP(w, r)
		return
	}
	var user string
	if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
		user = ti.UserID
	}
	sw := &sealingWriter{ResponseWriter: w}
	sw.onHeader = func(status int) {
		local := w.Header().Get(sessionIDHeader)
		if local == "" || status != http.StatusOK {
			return
		}
		sealed, err := t.sealer.seal(&sealedState{User: user, Created: t.sealer.now().Unix(), Params: params})
		if err != nil {
			t.g.log.Warn("session id not sealed; the session stays on this replica", "error", err)
			sealed = local
		}
		w.Header().Set(sessionIDHeader, sealed)
		t.mu.Lock()
		t.local[sealed] = local
		t.mu.Unlock()
		sw.sealed, sw.local = sealed, local
	}
	h.ServeHTTP(sw, r)
	if sw.sealed != "" {
		t.watch(r, sw.sealed, sw.local)
	}
}

// localID returns the local session for a client's session id, taking the
// session over when this replica does not know it. A non-zero status is
// the error to answer.
func (t *sessionTable) localID(h http.Handler, r *http.Request, id string) (string, int, string) {
	t.mu.Lock()
	if local, ok := t.local[id]; ok {
		t.mu.Unlock()
		return local, 0, ""
	}
	if c, ok := t.restoring[id]; ok {
		t.mu.Unlock()
		select {
		case <-c.done:
			return c.local, c.status, c.msg
		case <-r.Context().Done():
			return "", http.StatusServiceUnavailable, "request ended while its session was being restored"
		}
	}
	c := &restoreCall{done: make(chan struct{})}
	t.restoring[id] = c
	t.mu.Unlock()

	c.local, c.status, c.msg = t.restore(h, r, id)
	t.mu.Lock()
	delete(t.restoring, id)
	if c.status == 0 {
		t.local[id] = c.local
	}
	t.mu.Unlock()
	close(c.done)
	if c.status == 0 {
		t.watch(r, id, c.local)
	}
	return c.local, c.status, c.msg
}

// restore opens a sealed session id and initialises a local session from
// it, on behalf of the request's caller.
func (t *sessionTable) restore(h http.Handler, r *http.Request, id string) (string, int, string) {
	ctx := r.Context()
	st, err := t.sealer.open(id)
	if err != nil {
		outcome := telemetry.RestoreInvalid
		if errors.Is(err, errSealExpired) {
			outcome = telemetry.RestoreExpired
		}
		t.g.opts.Metrics.RecordSessionRestore(ctx, outcome)
		t.g.log.Debug("unknown session id", "reason", err)
		return "", http.StatusNotFound, "session not found"
	}
	var user string
	if ti := auth.TokenInfoFromContext(ctx); ti != nil {
		user = ti.UserID
	}
	if st.User != user {
		t.g.opts.Metrics.RecordSessionRestore(ctx, telemetry.RestoreUserMismatch)
		return "", http.StatusForbidden, "session user mismatch"
	}
	local, err := reinitialize(h, r, st.Params)
	if err != nil {
		t.g.opts.Metrics.RecordSessionRestore(ctx, telemetry.RestoreFailed)
		t.g.log.Warn("cannot restore a sealed session; the client must initialise again", "error", err)
		return "", http.StatusNotFound, "session not found"
	}
	t.g.opts.Metrics.RecordSessionRestore(ctx, telemetry.RestoreOK)
	t.g.log.Info("session taken over from its sealed id", "session", local,
		"age", time.Since(time.Unix(st.Created, 0)).Round(time.Second).String())
	return local, 0, ""
}

// watch forgets the mapping of sealed to local when the local session
// ends (DELETE, idle timeout, shutdown), so that the next request takes
// the session over again rather than meeting a dead local id.
func (t *sessionTable) watch(r *http.Request, sealed, local string) {
	for ss := range t.g.viewFor(r).Sessions() {
		if ss.ID() == local {
			go func() {
				ss.Wait()
				t.forget(sealed, local)
			}()
			return
		}
	}
	t.forget(sealed, local) // already gone
}

func (t *sessionTable) forget(sealed, local string) {
	t.mu.Lock()
	if t.local[sealed] == local {
		delete(t.local, sealed)
	}
	t.mu.Unlock()
}

// sealableParams returns the initialize parameters of a single initialize
// request, without _meta and re-encoded, or nil when the body is not one
// or they are too large to seal.
func sealableParams(body []byte) json.RawMessage {
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Method != "initialize" || len(msg.ID) == 0 {
		return nil
	}
	var p mcp.InitializeParams
	if json.Unmarshal(msg.Params, &p) != nil || p.ProtocolVersion == "" {
		return nil
	}
	p.Meta = nil
	out, err := json.Marshal(&p)
	if err != nil || len(out) > maxSealedParams {
		return nil
	}
	return out
}

// reinitialize runs the initialize handshake with params through h, the
// SDK's stateful handler, as the caller of r, and returns the new local
// session id.
func reinitialize(h http.Handler, r *http.Request, params json.RawMessage) (string, error) {
	body := append(append([]byte(`{"jsonrpc":"2.0","id":"mcpgate-restore","method":"initialize","params":`), params...), '}')
	rec := internalRequest(r.Context(), h, r, body, nil)
	if rec.status != http.StatusOK {
		return "", fmt.Errorf("initialize answered HTTP %d: %s", rec.status, bytes.TrimSpace(rec.body.Bytes()))
	}
	local := rec.header.Get(sessionIDHeader)
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
		return "", fmt.Errorf("initialize answered an unreadable response: %w", err)
	}
	if resp.Error != nil || resp.Result == nil {
		msg := "no result"
		if resp.Error != nil {
			msg = resp.Error.Message
		}
		return "", fmt.Errorf("initialize failed: %s", msg)
	}
	rec = internalRequest(r.Context(), h, r, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), http.Header{
		sessionIDHeader:        {local},
		"Mcp-Protocol-Version": {resp.Result.ProtocolVersion},
	})
	if rec.status != http.StatusAccepted && rec.status != http.StatusOK {
		return "", fmt.Errorf("notifications/initialized answered HTTP %d", rec.status)
	}
	return local, nil
}

// internalRequest POSTs body to h as if r's client had sent it, and
// records the response.
func internalRequest(ctx context.Context, h http.Handler, r *http.Request, body []byte, hdr http.Header) *recorder {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.URL.String(), bytes.NewReader(body))
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
	return rec
}

// recorder is the http.ResponseWriter of an internal request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Flush()              {}

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
	sc := bufio.NewScanner(bytes.NewReader(r.body.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:")); ok {
			return bytes.TrimSpace(data)
		}
	}
	return nil
}

// sealingWriter calls onHeader once, just before the response header is
// written, so the session id in it can be replaced.
type sealingWriter struct {
	http.ResponseWriter
	onHeader      func(status int)
	wrote         bool
	sealed, local string
}

func (w *sealingWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		w.onHeader(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *sealingWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *sealingWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *sealingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
