package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// Identity is the verified caller, the one Go type policy sees.
//
// An Identity returned by Verify or FromContext may be shared between
// concurrent requests (verified tokens are cached): treat it, its slices and
// its Claims map as read-only.
type Identity struct {
	// Subject is the mapped subject claim ("sub" by default); never empty.
	Subject string
	// Issuer is the issuer identifier that signed the token, exactly as
	// configured.
	Issuer string
	// Email and Name are the mapped email and name claims, or empty.
	Email, Name string
	// Groups is the mapped groups claim: a string becomes one group, an array
	// of strings is taken as is, anything else gives no groups.
	Groups []string
	// Scopes come from "scope" (space-separated string) or "scp" (string or
	// array), unless the issuer maps them elsewhere.
	Scopes []string
	// ClientID is the OAuth client the token was issued to ("azp", then
	// "client_id", unless mapped elsewhere).
	ClientID string
	// Audience is the token's "aud"; it contains one of the accepted audiences.
	Audience []string
	// Expiry is the token's "exp".
	Expiry time.Time
	// Claims holds every claim of the token, as decoded from JSON.
	Claims map[string]any
	// PolicyKey fingerprints everything a policy sees of the caller (the
	// fields above but Expiry, claims included): equal keys, equal
	// input.user and input.token. Verify sets it, once per token; empty
	// when unknown, and then no decision is served from a cache.
	PolicyKey string
}

// policyKey computes Identity.PolicyKey: SHA-256 of the JSON of the fields
// policy sees (encoding/json sorts map keys, so equal content, equal key).
func policyKey(id *Identity) string {
	raw, err := json.Marshal(struct {
		Iss, Sub, Email, Name, ClientID string
		Groups, Scopes, Aud             []string
		Claims                          map[string]any
	}{id.Issuer, id.Subject, id.Email, id.Name, id.ClientID, id.Groups, id.Scopes, id.Audience, id.Claims})
	if err != nil {
		return "" // not cacheable: decided every time
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

type identityKey struct{}

// tokenInfoIdentity is the key of the verified Identity in the go-sdk
// TokenInfo's Extra: the SDK hands TokenInfo to every MCP request, which is
// how the gateway learns who is calling.
const tokenInfoIdentity = "mcpgate.identity"

// NewTokenInfo is the go-sdk view of a verified identity: what the bearer
// middleware gives the SDK, which binds sessions to UserID and hands the
// TokenInfo to every MCP request. UserID encodes (issuer, subject), as a
// subject is unique only per issuer.
func NewTokenInfo(id *Identity) *auth.TokenInfo {
	return tokenInfo(&verified{id: id, userID: sessionUserID(id.Issuer, id.Subject)})
}

// IdentityFromTokenInfo returns the Identity that NewTokenInfo (or the
// bearer middleware) put in ti, or nil when there is none.
func IdentityFromTokenInfo(ti *auth.TokenInfo) *Identity {
	if ti == nil {
		return nil
	}
	id, _ := ti.Extra[tokenInfoIdentity].(*Identity)
	return id
}

// NewContext returns a copy of ctx that carries id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the Identity stored in ctx by the bearer middleware
// (or NewContext), and whether there was one.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok && id != nil
}
