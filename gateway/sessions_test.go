package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/store"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, config.SessionKeySize) }

func TestSealerRoundTripAndRefusals(t *testing.T) {
	const resource = "https://mcp.example.com/mcp"
	s, err := newSealer([][]byte{testKey(1)}, resource)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	st := &sealedState{User: "iss|alice", Created: now.Unix(), Params: []byte(`{"protocolVersion":"2025-11-25"}`)}
	id, err := s.seal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("session id has %q, outside visible ASCII", c)
		}
	}
	got, err := s.open(id)
	if err != nil {
		t.Fatalf("open(seal(st)) = %v", err)
	}
	if got.User != st.User || got.Created != st.Created || string(got.Params) != string(st.Params) {
		t.Errorf("open(seal(st)) = %+v, want %+v", got, st)
	}
	if again, _ := s.seal(st); again == id {
		t.Error("sealing twice gave the same id: the nonce is not random")
	}

	// Rotation: a sealer whose first key is new still opens ids of the old key.
	rotated, _ := newSealer([][]byte{testKey(2), testKey(1)}, resource)
	rotated.now = s.now
	if _, err := rotated.open(id); err != nil {
		t.Errorf("rotated sealer cannot open an id of its second key: %v", err)
	}
	newID, _ := rotated.seal(st)
	if _, err := s.open(newID); !errors.Is(err, errSealInvalid) {
		t.Errorf("old sealer opened an id of a key it lacks: %v", err)
	}

	// sealbox's layout: format byte, 4-byte key id, 12-byte nonce.
	const kidLen, sealHeaderLen = 4, 17
	other, _ := newSealer([][]byte{testKey(1)}, "https://other.example.com/mcp")
	raw, _ := base64.RawURLEncoding.DecodeString(id)
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}
	refused := map[string]struct {
		s  *sealer
		id string
	}{
		"another deployment's resource": {other, id},
		"format byte flipped":           {s, flip(0)},
		"key id flipped":                {s, flip(1)},
		"nonce flipped":                 {s, flip(1 + kidLen)},
		"ciphertext flipped":            {s, flip(sealHeaderLen + 1)},
		"tag flipped":                   {s, flip(len(raw) - 1)},
		"truncated":                     {s, id[:len(id)-4]},
		"header only":                   {s, base64.RawURLEncoding.EncodeToString(raw[:sealHeaderLen])},
		"empty":                         {s, ""},
		"not base64":                    {s, "local-session-id!"},
		"a go-sdk session id":           {s, "QJ6OOXRIQP3CHFFQPVJD7WRUKZ"},
		"oversized":                     {s, strings.Repeat("A", maxSealedIDLen+1)},
	}
	for name, tc := range refused {
		if _, err := tc.s.open(tc.id); !errors.Is(err, errSealInvalid) {
			t.Errorf("%s: open = %v, want errSealInvalid", name, err)
		}
	}

	for name, at := range map[string]time.Time{
		"past its lifetime":   now.Add(sealedSessionLifetime + time.Second),
		"created in a future": now.Add(-sealedClockSkew - time.Second),
	} {
		s.now = func() time.Time { return at }
		if _, err := s.open(id); !errors.Is(err, errSealExpired) {
			t.Errorf("%s: open = %v, want errSealExpired", name, err)
		}
	}
}

func FuzzSealerOpen(f *testing.F) {
	s, err := newSealer([][]byte{testKey(7)}, "http://127.0.0.1/mcp")
	if err != nil {
		f.Fatal(err)
	}
	id, _ := s.seal(&sealedState{Created: time.Now().Unix(), Params: []byte(`{}`)})
	f.Add(id)
	f.Add("")
	f.Add("AQAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, id string) {
		st, err := s.open(id)
		if err == nil && (st == nil || len(st.Params) == 0) {
			t.Fatalf("open(%q) succeeded with %+v", id, st)
		}
	})
}

func TestSealableParams(t *testing.T) {
	init := func(params string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":` + params + `}`
	}
	p := sealableParams(parseEnvelope([]byte(init(`{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"c","version":"1"},"_meta":{"traceparent":"00-x"}}`))))
	if p == nil || bytes.Contains(p, []byte("traceparent")) || !bytes.Contains(p, []byte(`"elicitation"`)) {
		t.Errorf("sealableParams = %s: want the capabilities kept and _meta dropped", p)
	}
	for name, body := range map[string]string{
		"not initialize": `{"jsonrpc":"2.0","id":1,"method":"ping"}`,
		"notification":   `{"jsonrpc":"2.0","method":"initialize","params":{"protocolVersion":"2025-11-25"}}`,
		"batch":          `[` + init(`{"protocolVersion":"2025-11-25"}`) + `]`,
		"not JSON":       `{"jsonrpc":`,
		"no version":     init(`{"capabilities":{}}`),
		"too large":      init(`{"protocolVersion":"2025-11-25","capabilities":{"experimental":{"x":"` + strings.Repeat("a", maxSealedParams) + `"}}}`),
	} {
		if p := sealableParams(parseEnvelope([]byte(body))); p != nil {
			t.Errorf("%s: sealableParams = %s, want nil", name, p)
		}
	}
}

// replicaSet is two or more gateways over the same upstream behind a
// round-robin proxy, signed in with go-sdk's bearer middleware (tokens
// "alice" and "bob" name their user).
type replicaSet struct {
	rr       *testtools.RoundRobin
	urls     []string
	gateways []*testGateway
}

func startReplicas(t *testing.T, upstream string, keySets ...[][]byte) *replicaSet {
	t.Helper()
	return startReplicasStore(t, upstream, openTestStore(t), keySets...)
}

// openTestStore opens a file store in a temporary directory, closed at the
// end of the test.
func openTestStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.OpenFile(filepath.Join(t.TempDir(), "mcpgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startReplicasStore starts a gateway per key set, all sharing st (as
// replicas share a PostgreSQL store), behind a round robin.
func startReplicasStore(t *testing.T, upstream string, st store.Store, keySets ...[][]byte) *replicaSet {
	t.Helper()
	return startReplicasEdited(t, upstream, st, nil, keySets...)
}

// startReplicasEdited is startReplicasStore with edit applied to each
// replica's options.
func startReplicasEdited(t *testing.T, upstream string, st store.Store, edit func(*Options), keySets ...[][]byte) *replicaSet {
	t.Helper()
	verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		if token != "alice" && token != "bob" {
			return nil, auth.ErrInvalidToken
		}
		return authn.NewTokenInfo(&authn.Identity{Issuer: "https://idp.test", Subject: token, Expiry: time.Now().Add(time.Hour)}), nil
	}
	set := &replicaSet{}
	for _, keys := range keySets {
		opts := testOptions()
		opts.HTTPMiddleware = []func(http.Handler) http.Handler{auth.RequireBearerToken(verify, nil)}
		opts.SessionKeys = keys
		opts.Store = st
		if edit != nil {
			edit(opts)
		}
		gw := startGatewayConfig(t, opts, func(c *config.Config) {
			c.Servers = []config.Server{noPrefix(upstreamConfig("up", upstream))}
			c.PublicURL = "https://mcp.example.com"
		})
		set.gateways = append(set.gateways, gw)
		set.urls = append(set.urls, strings.TrimSuffix(gw.URL, "/mcp"))
	}
	set.rr = testtools.StartRoundRobin(t, set.urls...)
	return set
}

type bearerRT string

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func echoUpstream(t *testing.T) *testUpstream {
	up, _ := countingEchoUpstream(t)
	return up
}

// countingEchoUpstream is echoUpstream, with the number of calls its tool
// ran.
func countingEchoUpstream(t *testing.T) (*testUpstream, *atomic.Int64) {
	var ran atomic.Int64
	srv := mcp.NewServer(&mcp.Implementation{Name: "echo", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		ran.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	return startUpstream(t, srv), &ran
}

// TestSealedSessionMovesBetweenReplicas: a 2025 session goes on through
// a round robin of replicas, each taking it over, and each call runs once
// (found in review: a take-over's internal requests carried the client's
// call, which the fast path then served as one of them).
func TestSealedSessionMovesBetweenReplicas(t *testing.T) {
	t.Parallel()
	up, ran := countingEchoUpstream(t)
	keys := [][]byte{testKey(3)}
	// Four: with two, the second replica takes the session over on the
	// client's notifications/initialized, never on a call.
	set := startReplicas(t, up.URL, keys, keys, keys, keys)

	cs := connectWith(t, set.rr.URL+"/mcp", legacy, nil, &http.Client{Transport: bearerRT("alice")})
	ctx := ctxTimeout(t)
	for i := range 8 {
		text := fmt.Sprintf("call %d", i)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
		if err != nil || res.IsError || textOf(t, res) != text {
			t.Fatalf("call %d through the round robin: %v %+v", i, err, res)
		}
	}
	if n := ran.Load(); n != 8 {
		t.Errorf("the upstream ran the tool %d times for 8 calls", n)
	}
	if n := len(toolNames(t, cs)); n != 1 {
		t.Errorf("tools through the round robin: %d, want 1", n)
	}
	for i, u := range set.urls {
		if set.rr.Served()[u] == 0 {
			t.Fatalf("replica %d served no request: %v", i, set.rr.Served())
		}
		tab := set.gateways[i].sessions
		tab.mu.Lock()
		local, ok := tab.local[cs.ID()]
		tab.mu.Unlock()
		if !ok || local == cs.ID() {
			t.Errorf("replica %d: session %.16s… mapped to %q (%v), want a local session of its own", i, cs.ID(), local, ok)
		}
	}

	// The session's id is bound to its user: bob's valid token with
	// alice's session id is refused on the replica that created it and on
	// the one that took it over, and takes nothing over.
	for i, u := range set.urls {
		status, body := postSession(t, u+"/mcp", "bob", cs.ID())
		if status != http.StatusForbidden || !strings.Contains(body, "session user mismatch") {
			t.Errorf("replica %d: bob with alice's session: %d %q, want 403 session user mismatch", i, status, body)
		}
	}

	// A client ending its session: the replica that gets the DELETE
	// closes its copy and forgets the mapping.
	if err := cs.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	eventually(t, "a replica forgets the deleted session", func() bool {
		for _, gw := range set.gateways {
			gw.sessions.mu.Lock()
			_, ok := gw.sessions.local[cs.ID()]
			gw.sessions.mu.Unlock()
			if !ok {
				return true
			}
		}
		return false
	})
}

var requestIDs atomic.Int64

// postSession sends a tools/list with a session id and a token and returns
// the status and body.
func postSession(t *testing.T, url, token, session string) (int, string) {
	t.Helper()
	status, _, body := rawPost(t, url, token, session, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, requestIDs.Add(1)))
	return status, body
}

// A replica without the key, or with another one, answers 404 for a sealed
// session: the client initialises again, as the spec requires, and goes on.
func TestSealedSessionUnknownKeyGets404(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	set := startReplicas(t, up.URL, [][]byte{testKey(4)}, [][]byte{testKey(5)})
	first, second := set.urls[0]+"/mcp", set.urls[1]+"/mcp"
	cs := connectWith(t, first, legacy, nil, &http.Client{Transport: bearerRT("alice")})
	if status, body := postSession(t, second, "alice", cs.ID()); status != http.StatusNotFound {
		t.Fatalf("sealed session at a replica with another key: %d %q, want 404", status, body)
	}
	for name, id := range map[string]string{"garbage": "nope", "forged": strings.Repeat("A", 80)} {
		if status, _ := postSession(t, first, "alice", id); status != http.StatusNotFound {
			t.Errorf("%s session id: %d, want 404", name, status)
		}
	}
	// The replica that has the session still serves it.
	if status, body := postSession(t, first, "alice", cs.ID()); status != http.StatusOK {
		t.Errorf("session on its own replica: %d %q", status, body)
	}
}

// Many requests of one session arriving at once at a replica that does not
// know it take it over once.
func TestSealedSessionConcurrentTakeOver(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	keys := [][]byte{testKey(6)}
	set := startReplicas(t, up.URL, keys, keys)
	cs := connectWith(t, set.urls[0]+"/mcp", legacy, nil, &http.Client{Transport: bearerRT("alice")})
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Go(func() { statuses[i], _ = postSession(t, set.urls[1]+"/mcp", "alice", cs.ID()) })
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: %d, want 200", i, s)
		}
	}
	if n := set.gateways[1].SessionCount(); n != 1 {
		t.Errorf("replica 1 has %d sessions after 16 concurrent requests of one session, want 1", n)
	}
}

// BenchmarkSealedSession measures what a sealed session costs: sealing at
// initialize, and opening the id on a replica that takes the session over
// (once per replica and session; later requests are a map lookup).
func BenchmarkSealedSession(b *testing.B) {
	s, err := newSealer([][]byte{testKey(8)}, "https://mcp.example.com/mcp")
	if err != nil {
		b.Fatal(err)
	}
	params := sealableParams(parseEnvelope([]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",` +
		`"capabilities":{"roots":{"listChanged":true},"sampling":{},"elicitation":{"form":{},"url":{}}},` +
		`"clientInfo":{"name":"claude-code","title":"Claude Code","version":"2.1.0"}}}`)))
	st := &sealedState{User: "https://login.example.com/realms/corp|3f2a9c1e-5b7d-4e8f-a1c2-9d0e8b7a6f5e", Created: time.Now().Unix(), Params: params}
	id, err := s.seal(st)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.seal(st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.open(id); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(id)), "id-bytes")
	})
}

// rawPost sends body to url as alice's (or token's) client with an optional
// session id, and returns the status, the response's session id and body.
func rawPost(t *testing.T, url, token, session, body string) (int, string, string) {
	t.Helper()
	status, hdr, got := rawPostHeader(t, url, token, session, body)
	return status, hdr.Get("Mcp-Session-Id"), got
}

// rawPostHeader is rawPost returning the whole response header.
func rawPostHeader(t *testing.T, url, token, session, body string) (int, http.Header, string) {
	t.Helper()
	h := sessionHeader(session)
	h["Authorization"] = "Bearer " + token
	return postMCPHeader(t, url, body, h)
}

func initBody(params string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":` + params + `}`
}

const smallInit = `{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}`

// The edges of sealing: a session that cannot be sealed stays usable on its
// replica; an initialize sent again on an open session never shows the
// local id; a session ended with DELETE is not taken over again by the
// replica that ended it; a replica that is shutting down takes nothing
// over.
func TestSealedSessionEdges(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	keys := [][]byte{testKey(9)}
	set := startReplicas(t, up.URL, keys, keys)
	a, b := set.urls[0]+"/mcp", set.urls[1]+"/mcp"
	local := func(i int, id string) (string, bool) {
		tab := set.gateways[i].sessions
		tab.mu.Lock()
		defer tab.mu.Unlock()
		l, ok := tab.local[id]
		return l, ok
	}

	t.Run("unsealable initialize", func(t *testing.T) {
		big := `{"protocolVersion":"2025-11-25","capabilities":{"experimental":{"x":{"blob":"` +
			strings.Repeat("z", maxSealedParams) + `"}}},"clientInfo":{"name":"big","version":"1"}}`
		status, id, body := rawPost(t, a, "alice", "", initBody(big))
		if status != http.StatusOK || id == "" {
			t.Fatalf("initialize with large parameters: %d %q %s", status, id, body)
		}
		if l, ok := local(0, id); !ok || l != id {
			t.Fatalf("unsealed session: mapped to %q (%v), want its own local id", l, ok)
		}
		if status, _, body := rawPost(t, a, "alice", id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != http.StatusAccepted {
			t.Fatalf("initialized on its own replica: %d %s", status, body)
		}
		if status, body := postSession(t, a, "alice", id); status != http.StatusOK {
			t.Errorf("unsealed session on its own replica: %d %s, want 200", status, body)
		}
		if status, body := postSession(t, b, "alice", id); status != http.StatusNotFound {
			t.Errorf("unsealed session on another replica: %d %s, want 404", status, body)
		}
	})

	t.Run("initialize again on an open session", func(t *testing.T) {
		_, id, _ := rawPost(t, a, "alice", "", initBody(smallInit))
		l, ok := local(0, id)
		if !ok || l == id {
			t.Fatalf("sealed session %q mapped to %q (%v)", id, l, ok)
		}
		_, got, body := rawPost(t, a, "alice", id, initBody(smallInit))
		if got != "" && got != id || strings.Contains(body, l) {
			t.Errorf("initialize on open session %q answered session id %q, body %s: the local id %q must not show", id, got, body, l)
		}
	})

	t.Run("DELETE ends the session on this replica", func(t *testing.T) {
		id := initSealed(t, a, "alice")
		if status := deleteSession(t, a, "alice", id); status != http.StatusNoContent {
			t.Fatalf("DELETE: %d", status)
		}
		if status, body := postSession(t, a, "alice", id); status != http.StatusNotFound {
			t.Errorf("request after DELETE on the same replica: %d %s, want 404", status, body)
		}
	})

	t.Run("no take-over while shutting down", func(t *testing.T) {
		id := initSealed(t, a, "alice")
		// Replica b begins its shutdown (as Close does first): a GET event
		// stream, which shutdown does not wait for, must not take the
		// session over now.
		set.gateways[1].inflight.mu.Lock()
		set.gateways[1].inflight.closing = true
		set.gateways[1].inflight.mu.Unlock()
		defer func() {
			set.gateways[1].inflight.mu.Lock()
			set.gateways[1].inflight.closing = false
			set.gateways[1].inflight.mu.Unlock()
		}()
		resp := sendSession(t, http.MethodGet, b, "alice", id)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET with a session to take over during shutdown: %d, want 503 with Retry-After", resp.StatusCode)
		}
		if _, ok := local(1, id); ok {
			t.Error("a replica shutting down took a session over")
		}
	})
}

// deleteSession ends a session with DELETE at url and returns the status.
func deleteSession(t *testing.T, url, token, session string) int {
	t.Helper()
	return sendSession(t, http.MethodDelete, url, token, session).StatusCode
}

// sendSession sends a request without body (a GET opens the event stream)
// of a session and returns the response, its body closed.
func sendSession(t *testing.T, method, url, token, session string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", legacy)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// initSealed initialises a sealed session of token's user at url.
func initSealed(t *testing.T, url, token string) string {
	t.Helper()
	status, id, body := rawPost(t, url, token, "", initBody(smallInit))
	if status != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d %q %s", status, id, body)
	}
	rawPost(t, url, token, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return id
}

// A session ended with DELETE on one replica is refused by every replica
// sharing the store: by one that never saw it, and by one that saw it
// before but no longer holds a copy.
func TestSealedSessionDeleteEndsItEverywhere(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	keys := [][]byte{testKey(10)}
	set := startReplicasStore(t, up.URL, openTestStore(t), keys, keys, keys)
	a, b, c := set.urls[0]+"/mcp", set.urls[1]+"/mcp", set.urls[2]+"/mcp"

	id := initSealed(t, a, "alice")
	if status := deleteSession(t, a, "alice", id); status != http.StatusNoContent {
		t.Fatalf("DELETE: %d, want 204", status)
	}
	for name, u := range map[string]string{"the replica that ended it": a, "another replica": b} {
		if status, body := postSession(t, u, "alice", id); status != http.StatusNotFound {
			t.Errorf("request after DELETE at %s: %d %s, want 404", name, status, body)
		}
	}
	if n := set.gateways[1].SessionCount(); n != 0 {
		t.Errorf("replica b holds %d sessions, want none: it must not take an ended session over", n)
	}

	// Ended at the replica that took it over: the creator refuses it too,
	// once its own copy is gone (it keeps serving that copy until then).
	id = initSealed(t, a, "alice")
	if status, body := postSession(t, b, "alice", id); status != http.StatusOK {
		t.Fatalf("take-over at b: %d %s", status, body)
	}
	if status := deleteSession(t, b, "alice", id); status != http.StatusNoContent {
		t.Fatalf("DELETE at b: %d, want 204", status)
	}
	if status, body := postSession(t, c, "alice", id); status != http.StatusNotFound {
		t.Errorf("request at c after DELETE at b: %d %s, want 404", status, body)
	}
}

// A replica that cannot reach its store takes no session over (503, the
// client retries) and does not confirm a DELETE it cannot record (503):
// fail closed.
func TestSealedSessionStoreDown(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	keys := [][]byte{testKey(11)}
	st := openTestStore(t)
	set := startReplicasStore(t, up.URL, st, keys, keys)
	a, b := set.urls[0]+"/mcp", set.urls[1]+"/mcp"
	id := initSealed(t, a, "alice")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	status, hdr, body := rawPostHeader(t, b, "alice", id, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("take-over with the store down: %d %s, want 503 with Retry-After", status, body)
	}
	if n := set.gateways[1].SessionCount(); n != 0 {
		t.Errorf("replica b took the session over without its store: %d sessions", n)
	}
	if status := deleteSession(t, a, "alice", id); status != http.StatusServiceUnavailable {
		t.Errorf("DELETE with the store down: %d, want 503", status)
	}
}

func TestSessionKeysNeedAStore(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.SessionKeys = [][]byte{testKey(12)}
	_, err := New(config.Default(), opts)
	if !errors.Is(err, ErrNoStore) {
		t.Errorf("New with session keys and no store: %v, want ErrNoStore", err)
	}
}

// stepUpEchoPolicy lists echo and wants the admin scope to call it.
const stepUpEchoPolicy = `package mcpgate.authz

default decision := {"allow": false, "reasons": ["no"], "required_scopes": []}

decision := {"allow": true, "reasons": ["in"], "required_scopes": []} if input.phase in {"initialize", "list"}

decision := {"allow": false, "reasons": ["echo needs the admin scope"], "required_scopes": ["admin"]} if {
	input.phase == "call"
	not "admin" in input.token.scopes
}
`

// TestSealedSessionStepUpOnTakeOver: a replica that takes a session over
// on a call whose decision wants a scope the token lacks answers the
// step-up challenge and keeps the session (found in review: the take-over's
// internal initialize inherited the client's call and got the challenge,
// so the take-over failed and the client got 404 session not found).
func TestSealedSessionStepUpOnTakeOver(t *testing.T) {
	t.Parallel()
	up, ran := countingEchoUpstream(t)
	keys := [][]byte{testKey(5)}
	set := startReplicasEdited(t, up.URL, openTestStore(t), func(o *Options) {
		engine := policy.NewEngine(policy.Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute})
		if err := engine.LoadModules(map[string]string{"p.rego": stepUpEchoPolicy}, nil); err != nil {
			t.Fatal(err)
		}
		o.Authorizer = engine
		// The identity in the request's context too, as authn.Middleware
		// puts it (the step-up reads it there).
		o.HTTPMiddleware = append(o.HTTPMiddleware, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if id := authn.IdentityFromTokenInfo(auth.TokenInfoFromContext(r.Context())); id != nil {
					r = r.WithContext(authn.NewContext(r.Context(), id))
				}
				h.ServeHTTP(w, r)
			})
		})
		o.ScopeChallenge = func(w http.ResponseWriter, scopes []string, desc string) {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+strings.Join(scopes, " ")+`"`)
			http.Error(w, desc, http.StatusForbidden)
		}
	}, keys, keys, keys, keys)
	// A session opened on the first replica, then a call on each of the
	// others: each takes the session over on that call.
	status, session, body := rawPost(t, set.urls[0]+"/mcp", "alice", "", initBody(smallInit))
	if status != http.StatusOK || session == "" {
		t.Fatalf("initialize: %d %q %s", status, session, body)
	}
	if status, _, body := rawPost(t, set.urls[0]+"/mcp", "alice", session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", status, body)
	}
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`
	for i, u := range set.urls[1:] {
		status, hdr, body := rawPostHeader(t, u+"/mcp", "alice", session, call)
		if status != http.StatusForbidden || !strings.Contains(hdr.Get("WWW-Authenticate"), `scope="admin"`) {
			t.Fatalf("replica %d, the call that takes the session over: %d %q %s, want the step-up challenge", i+1, status, hdr.Get("WWW-Authenticate"), body)
		}
		// The session is the replica's now: a list goes through.
		if status, _, body := rawPost(t, u+"/mcp", "alice", session, `{"jsonrpc":"2.0","id":8,"method":"tools/list"}`); status != http.StatusOK || !strings.Contains(body, `"echo"`) {
			t.Errorf("replica %d after the challenge: %d %s", i+1, status, body)
		}
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("the upstream ran a call %d times; every call wants a scope the token lacks", n)
	}
}
