package gateway

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A user holds at most limits.sessions_per_user sessions: one more closes
// the session idle longest, and the others keep working.
func TestSessionsPerUserLimit(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("e", nil, nil))
	gw := startGatewayConfig(t, nil, func(c *config.Config) {
		c.Servers = []config.Server{upstreamConfig("e", up.URL)}
		c.Limits.SessionsPerUser = 2
	})
	first := connect(t, gw.URL, legacy, nil)
	second := connect(t, gw.URL, legacy, nil)
	toolNames(t, first) // first is now used more recently than second
	third := connect(t, gw.URL, legacy, nil)
	if _, err := second.ListTools(ctxTimeout(t), nil); !errors.Is(err, mcp.ErrSessionMissing) {
		t.Errorf("the session idle longest after a third was opened: %v, want ErrSessionMissing", err)
	}
	for name, cs := range map[string]*mcp.ClientSession{"first": first, "third": third} {
		if _, err := cs.ListTools(ctxTimeout(t), nil); err != nil {
			t.Errorf("%s session: %v", name, err)
		}
	}
	if n := gw.registry.count(); n != 2 {
		t.Errorf("registry holds %d sessions, want 2", n)
	}
}

// An initialize whose parameters exceed limits.max_initialize_bytes is
// refused with an error naming the limit; a session never keeps them.
func TestInitializeTooLarge(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, echoServer("e", nil, nil))
	gw := startGatewayConfig(t, nil, func(c *config.Config) {
		c.Servers = []config.Server{upstreamConfig("e", up.URL)}
		c.Limits.MaxInitializeBytes = 1 << 10
	})
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"experimental":{"x":"` +
		strings.Repeat("a", 2<<10) + `"}},"clientInfo":{"name":"c","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, gw.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(sessionIDHeader) != "" ||
		!strings.Contains(string(msg), "limits.max_initialize_bytes") || !strings.Contains(string(msg), `"id":1`) {
		t.Errorf("HTTP %d, session %q, body %s; want 400 naming limits.max_initialize_bytes, no session",
			resp.StatusCode, resp.Header.Get(sessionIDHeader), string(msg))
	}
	// Sent in a batch (the 2025-03-26 revision has batches), an initialize
	// is refused outright: it could not be limited otherwise.
	batch := `[` + body + `]`
	req, _ = http.NewRequest(http.MethodPost, gw.URL, strings.NewReader(batch))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	msg2, _ := io.ReadAll(resp2.Body)
	if resp2.StatusCode != http.StatusBadRequest || resp2.Header.Get(sessionIDHeader) != "" || !strings.Contains(string(msg2), "cannot be sent in a batch") {
		t.Errorf("batched initialize: HTTP %d, session %q, body %s; want 400, no session", resp2.StatusCode, resp2.Header.Get(sessionIDHeader), msg2)
	}
	if n := gw.registry.count(); n != 0 {
		t.Errorf("%d sessions after a refused initialize", n)
	}
	connect(t, gw.URL, legacy, nil) // an ordinary initialize works
}

// TestKeyCache: the cached keys of an identity are those computed from
// it, per PolicyKey, with one user memo per PolicyKey; an identity without
// one is computed every time, and has no memo.
func TestKeyCache(t *testing.T) {
	var c keyCache
	a := &authn.Identity{Issuer: "i", Subject: "alice", Groups: []string{"eng"}, Scopes: []string{"mcp"}, PolicyKey: "k-alice"}
	b := &authn.Identity{Issuer: "i", Subject: "bob", Groups: []string{"ops"}, PolicyKey: "k-bob"}
	memos := map[*authn.Identity]*policy.UserMemo{}
	for range 2 {
		for _, id := range []*authn.Identity{a, b, {Issuer: "i", Subject: "carol"}, nil} {
			got := c.of(id)
			if want := (callerKeys{view: identityKey(id), session: sessionKey(id), user: got.user, list: got.list, gate: got.gate}); got != want {
				t.Errorf("keys of %+v: %+v, want %+v", id, got, want)
			}
			if keyed := id != nil && id.PolicyKey != ""; (got.user != nil) != keyed || (got.list != nil) != keyed || (got.gate != nil) != keyed {
				t.Errorf("keys of %+v: memos %+v", id, got)
			}
			if m, seen := memos[id]; seen && id != nil && id.PolicyKey != "" && m != got.user {
				t.Errorf("keys of %+v: a new user memo each time", id)
			}
			memos[id] = got.user
		}
	}
	if c.of(a) == c.of(b) {
		t.Error("two identities share keys")
	}
	if len(c.keys) != 2 {
		t.Errorf("%d identities cached, want the 2 with a PolicyKey", len(c.keys))
	}
}
