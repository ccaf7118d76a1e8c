package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/sync/singleflight"

	"github.com/mcpgate/mcpgate/store"
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

// sessionTable maps the sealed session ids clients know to the local
// sessions of this replica, taking over the sessions of other replicas.
type sessionTable struct {
	g      *Gateway
	sealer *sealer
	store  store.Store // ended session ids, shared by the replicas

	// restores coalesces concurrent take-overs of one session id: one
	// in-process initialize, whose result every waiting request shares.
	restores singleflight.Group

	mu    sync.Mutex
	local map[string]string    // client's session id → local SDK session id
	ended map[string]time.Time // ids ended by DELETE here → when to forget
}

const (
	// restoreTimeout bounds the in-process initialize of a take-over.
	restoreTimeout = 10 * time.Second
	// maxEnded bounds the ids remembered as ended by DELETE.
	maxEnded = 100_000
)

func newSessionTable(g *Gateway, keys [][]byte, st store.Store) (*sessionTable, error) {
	s, err := newSealer(keys, g.cfg.MCPURL())
	if err != nil {
		return nil, err
	}
	return &sessionTable{g: g, sealer: s, store: st, local: map[string]string{}, ended: map[string]time.Time{}}, nil
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
	switch {
	case status == http.StatusServiceUnavailable && msg == "":
		writeShuttingDown(w)
		return
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
		writeJSONRPCError(w, status, -32603, msg)
		return
	case status != 0:
		http.Error(w, msg, status)
		return
	}
	r.Header.Set(sessionIDHeader, local)
	// The SDK names the local session in a response (an initialize sent
	// again on an open session): the client must only ever see its own id.
	sw := &sealingWriter{ResponseWriter: w}
	sw.onHeader = func(status int) int {
		if w.Header().Get(sessionIDHeader) != "" {
			w.Header().Set(sessionIDHeader, id)
		}
		// A DELETE succeeds only once every replica will refuse the id.
		if r.Method == http.MethodDelete && status == http.StatusNoContent && t.end(r.Context(), id) != nil {
			w.Header().Set("Retry-After", "1")
			return http.StatusServiceUnavailable
		}
		return status
	}
	h.ServeHTTP(sw, r)
}

// serveNew serves a POST without session id: an initialize, whose
// response gets a sealed session id.
func (t *sessionTable) serveNew(h http.Handler, w http.ResponseWriter, r *http.Request) {
	params := sealableParams(envelopeOf(r.Context()))
	var user string
	if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
		user = ti.UserID
	}
	sw := &sealingWriter{ResponseWriter: w}
	sw.onHeader = func(status int) int {
		local := w.Header().Get(sessionIDHeader)
		if local == "" || status != http.StatusOK {
			return status
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
		return status
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
	// The take-over runs on its own (restore's own timeout): a request that
	// gives up waiting does not cancel it for the others.
	done := t.restores.DoChan(id, func() (any, error) {
		t.mu.Lock()
		local, ok := t.local[id]
		t.mu.Unlock()
		if ok { // taken over while this request proved itself
			return local, nil
		}
		if err := t.checkEnded(context.WithoutCancel(r.Context()), id); err != nil {
			return "", err
		}
		local, err := t.restore(h, r, st)
		if err != nil {
			return "", err
		}
		t.mu.Lock()
		t.local[id] = local
		t.mu.Unlock()
		t.watch(r, id, local)
		return local, nil
	})
	select {
	case res := <-done:
		if errors.Is(res.Err, errStoreUnavailable) {
			return "", http.StatusServiceUnavailable, "the session cannot be taken over now; retry the request"
		}
		if res.Err != nil {
			return "", http.StatusNotFound, "session not found"
		}
		return res.Val.(string), 0, ""
	case <-r.Context().Done():
		return "", http.StatusServiceUnavailable, ""
	}
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

// sealingWriter calls onHeader once, just before the response header is
// written, so the session id in it can be replaced; the status onHeader
// returns is written.
type sealingWriter struct {
	http.ResponseWriter
	onHeader      func(status int) int
	wrote         bool
	sealed, local string
}

func (w *sealingWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		status = w.onHeader(status)
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
