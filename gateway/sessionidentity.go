package gateway

import (
	"net/http"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A session of the 2025 revisions is served by the view of the identity
// that opened it: its lists were filtered for that identity's groups and
// claims. The SDK binds a session to its user; the gateway also binds it to
// the identity's view key, so a later request of the same user whose token
// says something else (other groups: the user moved team, a token was
// issued with other claims) gets HTTP 404 and initialises a new session,
// whose lists follow the new identity. Calls are decided per request
// regardless; this keeps the lists honest too. A token refreshed with the
// same claims has the same key (volatile claims such as exp are left out).

// bindSession records the view key of a session that initialize admitted,
// until the session ends.
func (g *Gateway) bindSession(ss *mcp.ServerSession, key string) {
	id := ss.ID()
	if id == "" {
		return
	}
	if _, loaded := g.sessionKeys.Swap(id, key); loaded {
		return // initialize sent again on an open session: already watched
	}
	go func() {
		ss.Wait()
		g.sessionKeys.Delete(id)
	}()
}

// sameIdentity refuses a request of a stateful session whose caller's
// identity is not the one the session was opened with.
func (g *Gateway) sameIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get(sessionIDHeader); id != "" {
			if key, ok := g.sessionKeys.Load(id); ok {
				caller, _ := authn.FromContext(r.Context())
				if identityKey(caller) != key.(string) {
					http.Error(w, "session not found: the token's identity (groups, claims) is not the one this session "+
						"was opened with; initialize a new session", http.StatusNotFound)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
