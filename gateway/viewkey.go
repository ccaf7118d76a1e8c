package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"sync"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
)

// volatileClaims change with every token of the same caller and must not
// split a caller's view.
var volatileClaims = map[string]bool{"exp": true, "iat": true, "nbf": true, "jti": true, "auth_time": true, "at_hash": true,
	"c_hash": true, "nonce": true, "sid": true,
	"session_state": true,                          // Keycloak
	"uti":           true, "rh": true, "aio": true, // Entra ID
}

// identityKey is the view key of an identity: a hash of everything policy
// may look at except what changes from one token to the next.
func identityKey(id *authn.Identity) string {
	if id == nil {
		return "anonymous"
	}
	claims := make(map[string]any, len(id.Claims))
	for k, v := range id.Claims {
		if !volatileClaims[k] {
			claims[k] = v
		}
	}
	data, err := json.Marshal([]any{id.Issuer, id.Subject, id.Email, id.Name, id.Groups, id.Scopes, id.ClientID, id.Audience, claims})
	if err != nil {
		// Never a shared key: a view of its own, for this request only.
		return "unkeyed:" + rand.Text()
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// scopeClaims carry a token's scopes (authn.Identity.Scopes).
var scopeClaims = []string{"scope", "scp"}

// sessionKey is the key a stateful session is bound to (see sameIdentity):
// the identity's view key without its scopes. A client that steps up (or
// whose refresh narrows its scopes) retries in its session with a token of
// other scopes, as the MCP step-up flow has it; calls are decided with each
// request's token, so the session goes on. Other groups or claims still
// end it.
func sessionKey(id *authn.Identity) string {
	if id == nil {
		return identityKey(nil)
	}
	c := *id
	c.Scopes = nil
	c.Claims = maps.Clone(id.Claims)
	for _, k := range scopeClaims {
		delete(c.Claims, k)
	}
	return identityKey(&c)
}

// callerKeys are the view key and session key of one identity.
type callerKeys struct {
	view, session string
	// user keeps the caller's policy input user converted once (nil
	// when the identity has no PolicyKey).
	user *policy.UserMemo
	// list keeps the caller's list key (sharedViewKey), and gate its
	// initialize allows (sessionGate); nil when the identity has no
	// PolicyKey, whose views are its own.
	list *listKeyMemo
	gate *sessionGate
}

// listKeyMemo is an identity's ListKey under one policy revision, and
// the key of the view of what its lists show (shownView) for the catalog
// revision shownCat.
type listKeyMemo struct {
	mu       sync.Mutex
	revision string
	key      string
	ok       bool
	shown    string
	shownCat uint64
}

// unshared notes that the identity's shared view cannot be used under the
// policy revision rev: its requests use its own view until the revision
// changes.
func (m *listKeyMemo) unshared(rev string) {
	m.mu.Lock()
	if m.revision == rev {
		m.ok = false
	}
	m.mu.Unlock()
}

// shownAt is the key of the identity's shown view under rev for the
// catalog revision cat, when its lists were decided for that catalog.
func (m *listKeyMemo) shownAt(rev string, cat uint64) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.shown, m.revision == rev && m.shown != "" && m.shownCat == cat
}

// setShown notes the key of the identity's shown view under rev for the
// catalog revision cat.
func (m *listKeyMemo) setShown(rev string, cat uint64, key string) {
	m.mu.Lock()
	if m.revision == rev {
		m.shown, m.shownCat = key, cat
	}
	m.mu.Unlock()
}

// keyCache remembers the keys of identities by their PolicyKey, which
// fingerprints everything both keys are computed from: a request of a
// known token costs a map lookup, not two JSON encodings and hashes.
type keyCache struct {
	mu   sync.Mutex
	keys map[string]callerKeys
	// seen remembers each new identity for the console (SeenIdentities).
	seen seenIdentities
}

// maxCachedKeys bounds the cache; it starts over when full.
const maxCachedKeys = 10_000

func (c *keyCache) of(id *authn.Identity) callerKeys {
	if id == nil || id.PolicyKey == "" {
		return callerKeys{view: identityKey(id), session: sessionKey(id)}
	}
	c.mu.Lock()
	k, ok := c.keys[id.PolicyKey]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = callerKeys{view: identityKey(id), session: sessionKey(id), user: &policy.UserMemo{}, list: &listKeyMemo{},
		gate: &sessionGate{}}
	c.seen.add(id)
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = map[string]callerKeys{}
	}
	c.keys[id.PolicyKey] = k
	c.mu.Unlock()
	return k
}
