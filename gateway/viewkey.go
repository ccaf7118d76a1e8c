package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"

	"github.com/mcpgate/mcpgate/authn"
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
