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
	// which every request then carries in a header. A session with larger
	// ones (huge experimental capabilities) keeps its local id and lives on
	// its replica only.
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
	raw, err := base64.RawURLEncoding.Strict().DecodeString(id)
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
	local     map[string]string // client's session id → local SDK session id
	restoring map[string]*restoreCall
	ended     map[string]time.Time // ids ended by DELETE here → when to forget
}

type restoreCall struct {
	done  chan struct{}
	local string
	err   error
}

const (
	// restoreTimeout bounds the in-process initialize of a take-over.
	restoreTimeout = 10 * time.Second
	// maxEnded bounds the ids remembered as ended by DELETE.
	maxEnded = 100_000
)

func newSessionTable(g *Gateway, keys [][]byte) (*sessionTable, error) {
	s, err := newSealer(keys, g.cfg.MCPURL())
	if err != nil {
		return nil, err
	}
	return &sessionTable{g: g, sealer: s, local: map[string]string{},
		restoring: map[string]*restoreCall{}, ended: map[string]time.Time{}}, nil
}

// serve serves a request of the stateful era through h, the SDK's stateful
// handler, translating session ids both ways.
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
		if status == http.StatusServiceUnavailable {
			writeShuttingDown(w)
			return
		}
		http.Error(w, msg, status)
		return
	}
	r.Header.Set(sessionIDHeader, local)
	// The SDK names the local session in a response (an initialize sent
	// again on an open session): the client must only ever see its own id.
	sw := &sealingWriter{ResponseWriter: w}
	sw.onHeader = func(status int) {
		if w.Header().Get(sessionIDHeader) != "" {
			w.Header().Set(sessionIDHeader, id)
		}
		sw.status = status
	}
	h.ServeHTTP(sw, r)
	if r.Method == http.MethodDelete && sw.status == http.StatusNoContent {
		t.end(id)
	}
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
		// A session whose state cannot be sealed (a batch, initialize
		// parameters over maxSealedParams) keeps its local id and lives on
		// this replica only.
		id := local
		if params == nil {
			t.g.log.Debug("session not sealed: the initialize was not a single request with parameters up to 4 KiB; it stays on this replica")
		} else if sealed, err := t.sealer.seal(&sealedState{User: user, Created: t.sealer.now().Unix(), Params: params}); err != nil {
			t.g.log.Warn("session id not sealed; the session stays on this replica", "error", err)
		} else {
			id = sealed
		}
		w.Header().Set(sessionIDHeader, id)
		t.mu.Lock()
		t.local[id] = local
		t.mu.Unlock()
		sw.sealed, sw.local = id, local
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
	local, known := t.local[id]
	_, ended := t.ended[id]
	t.mu.Unlock()
	switch {
	case known:
		return local, 0, ""
	case ended:
		return "", http.StatusNotFound, "session not found"
	}
	// Every request proves itself (a valid id of its own user) before it
	// may start or join a take-over.
	st, status, msg := t.open(r, id)
	if status != 0 {
		return "", status, msg
	}
	if t.g.inflight.isClosing() {
		return "", http.StatusServiceUnavailable, ""
	}
	t.mu.Lock()
	if local, ok := t.local[id]; ok {
		t.mu.Unlock()
		return local, 0, ""
	}
	c, joining := t.restoring[id]
	if !joining {
		c = &restoreCall{done: make(chan struct{})}
		t.restoring[id] = c
	}
	t.mu.Unlock()
	if joining {
		select {
		case <-c.done:
		case <-r.Context().Done():
			return "", http.StatusServiceUnavailable, ""
		}
	} else {
		c.local, c.err = t.restore(h, r, st)
		t.mu.Lock()
		delete(t.restoring, id)
		if c.err == nil {
			t.local[id] = c.local
		}
		t.mu.Unlock()
		close(c.done)
		if c.err == nil {
			t.watch(r, id, c.local)
		}
	}
	if c.err != nil {
		return "", http.StatusNotFound, "session not found"
	}
	return c.local, 0, ""
}

// restoreOutcome classifies taking over a sealed session, the outcome
// label of mcpgate.sessions.restored.
type restoreOutcome string

const (
	restoreOK           restoreOutcome = "ok"            // the session now lives here too
	restoreInvalid      restoreOutcome = "invalid"       // not sealed by a known key: 404
	restoreExpired      restoreOutcome = "expired"       // sealed too long ago: 404
	restoreUserMismatch restoreOutcome = "user_mismatch" // another user's session: 403
	restoreFailed       restoreOutcome = "failed"        // the gateway could not re-initialise it
)

func (t *sessionTable) recordRestore(ctx context.Context, o restoreOutcome) {
	t.g.opts.Metrics.RecordSessionRestore(ctx, string(o))
}

// open authenticates a session id sealed elsewhere and checks that it is
// the caller's.
func (t *sessionTable) open(r *http.Request, id string) (*sealedState, int, string) {
	ctx := r.Context()
	st, err := t.sealer.open(id)
	if err != nil {
		outcome := restoreInvalid
		if errors.Is(err, errSealExpired) {
			outcome = restoreExpired
		}
		t.recordRestore(ctx, outcome)
		t.g.log.Debug("unknown session id", "reason", err)
		return nil, http.StatusNotFound, "session not found"
	}
	var user string
	if ti := auth.TokenInfoFromContext(ctx); ti != nil {
		user = ti.UserID
	}
	if st.User != user {
		t.recordRestore(ctx, restoreUserMismatch)
		return nil, http.StatusForbidden, "session user mismatch"
	}
	return st, 0, ""
}

// restore initialises a local session from sealed state, on behalf of the
// request's caller. It does not end with the request that started it:
// other requests of the session may be waiting for it.
func (t *sessionTable) restore(h http.Handler, r *http.Request, st *sealedState) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), restoreTimeout)
	defer cancel()
	local, err := reinitialize(ctx, h, r, st.Params)
	if err != nil {
		if local != "" {
			t.closeLocal(r, local)
		}
		t.recordRestore(ctx, restoreFailed)
		t.g.log.Warn("cannot restore a sealed session; the client must initialise again", "error", err)
		return "", err
	}
	t.recordRestore(ctx, restoreOK)
	t.g.log.Info("session taken over from its sealed id", "session", local,
		"age", time.Since(time.Unix(st.Created, 0)).Round(time.Second).String())
	return local, nil
}

// end remembers an id whose session a client ended with DELETE here, so
// that this replica does not take it over again. (Another replica that
// holds a copy keeps it until its idle timeout; one that never saw it
// could still take it over within its sealed lifetime, for the same user
// only.)
func (t *sessionTable) end(id string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ended) >= maxEnded {
		for k, until := range t.ended {
			if now.After(until) {
				delete(t.ended, k)
			}
		}
		for k := range t.ended { // still full: forget arbitrary ones
			if len(t.ended) < maxEnded/2 {
				break
			}
			delete(t.ended, k)
		}
	}
	t.ended[id] = now.Add(sealedSessionLifetime)
}

// session returns the live local session named local of r's caller.
func (t *sessionTable) session(r *http.Request, local string) *mcp.ServerSession {
	for ss := range t.g.viewFor(r).Sessions() {
		if ss.ID() == local {
			return ss
		}
	}
	return nil
}

func (t *sessionTable) closeLocal(r *http.Request, local string) {
	if ss := t.session(r, local); ss != nil {
		ss.Close()
	}
}

// watch forgets the mapping of sealed to local when the local session
// ends (DELETE, idle timeout, shutdown), so that the next request takes
// the session over again rather than meeting a dead local id.
func (t *sessionTable) watch(r *http.Request, sealed, local string) {
	ss := t.session(r, local)
	if ss == nil {
		t.forget(sealed, local) // already gone
		return
	}
	go func() {
		ss.Wait()
		t.forget(sealed, local)
	}()
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
// records the response.
func internalRequest(ctx context.Context, h http.Handler, r *http.Request, body []byte, hdr http.Header) (*recorder, error) {
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
	status        int
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
