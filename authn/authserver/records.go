package authserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/store"
)

// Store namespaces. Keys derived from a secret the client holds (codes,
// refresh tokens) are its SHA-256, so the store never holds a usable
// credential.
const (
	nsClient      = "as.client"       // client_id → registeredClient (dynamic registrations)
	nsPending     = "as.pending"      // state → pendingAuth (a sign-in at the IdP in progress)
	nsConsentReq  = "as.consent-req"  // consent id → consentRequest (a consent page shown)
	nsConsent     = "as.consent"      // user + client → consent
	nsUserClients = "as.user-clients" // user → the clients they consented to (the grants page)
	nsCode        = "as.code"         // hash(code) → codeRecord
	nsCodeUsed    = "as.code-used"    // hash(code) → marker: a code is redeemed once
	nsRefresh     = "as.refresh"      // hash(refresh token) → refreshRecord
	nsRefreshUsed = "as.refresh-used" // hash(refresh token) → marker: a refresh token is used once
	nsFamily      = "as.family"       // family id → familyRecord
	nsSession     = "as.session"      // browser session of the grants page → Subject
	nsUserLock    = "as.user-lock"    // hash(user) → marker: a change to the user's consents under way
)

// Lifetimes of the short-lived records.
const (
	pendingTTL      = 10 * time.Minute    // a sign-in at the IdP, or a consent page
	codeTTL         = time.Minute         // an authorization code
	sessionTTL      = time.Hour           // the grants page's browser session
	registrationTTL = 90 * 24 * time.Hour // extended at each use
	// unusedRegistrationTTL is the life of a dynamic registration that has
	// not yet been used to redeem a code: registrations cost nothing to
	// make, so one that is never used does not stay.
	unusedRegistrationTTL = 24 * time.Hour
)

// Subject is the employee as the corporate IdP's ID token named them, at
// sign-in.
type Subject struct {
	Sub      string    `json:"sub"`
	Email    string    `json:"email,omitempty"`
	Name     string    `json:"name,omitempty"`
	Groups   []string  `json:"groups"`
	IdP      string    `json:"idp"`
	AuthTime time.Time `json:"auth_time"`
	// Claims are the ID token's claims at sign-in, for the grant policy
	// (hd, tid, amr, …); they do not go into the access tokens.
	Claims map[string]any `json:"claims,omitempty"`
}

// registeredClient is a dynamically registered client.
type registeredClient struct {
	Metadata   ClientMetadata `json:"metadata"`
	SecretHash []byte         `json:"secret_hash,omitempty"`
	IssuedAt   time.Time      `json:"issued_at"`
}

// authzParams are the validated parameters of a client's authorization
// request, carried through the sign-in and the consent page to the code.
type authzParams struct {
	ClientID      string   `json:"client_id"`
	ClientName    string   `json:"client_name"`
	RedirectURI   string   `json:"redirect_uri"`
	State         string   `json:"state"`
	CodeChallenge string   `json:"code_challenge"`
	Scopes        []string `json:"scopes"`
	Resource      string   `json:"resource"`
	// Kind is where the client's registration comes from: the consent
	// page says so, errors are redirected only to configured clients
	// before consent, and consent is remembered silently only for
	// clients that can prove who they are.
	Kind clientKind `json:"kind"`
	// Confidential clients authenticate at the token endpoint.
	Confidential bool `json:"confidential,omitempty"`
	// Origin is the host vouching for a metadata-document client.
	Origin string `json:"origin,omitempty"`
}

// trusted reports whether errors may be redirected to the client before
// the employee saw the consent page: only for clients the organisation
// configured. A self-registered or metadata-document client could
// otherwise turn the gateway into an open redirector (RFC 9700 §4.11.2).
func (p *authzParams) trusted() bool { return p.Kind == kindStatic }

// silentReconsent reports whether a remembered consent may be used
// without showing the page again: only when the client proves who it is,
// by its secret or by an https redirect URI. A public client redirecting
// to loopback or a private-use scheme can be impersonated by any local
// program (RFC 8252 §8.6), so its employee confirms each authorization.
func (p *authzParams) silentReconsent() bool {
	return p.Confidential || strings.HasPrefix(p.RedirectURI, "https://")
}

// pendingAuth is a sign-in at the IdP in progress, keyed by the state sent
// to the IdP.
type pendingAuth struct {
	// Grants is set for a sign-in to the grants page; Params is then
	// empty.
	Grants      bool        `json:"grants,omitempty"`
	Params      authzParams `json:"params"`
	Nonce       string      `json:"nonce"`
	Verifier    string      `json:"verifier"` // PKCE verifier toward the IdP
	BrowserHash []byte      `json:"browser"`  // hash of the browser-binding cookie
	RemoteAddr  string      `json:"remote_addr,omitempty"`
}

// consentRequest is a consent page shown to a signed-in employee.
type consentRequest struct {
	Params      authzParams `json:"params"`
	Subject     Subject     `json:"subject"`
	Granted     []string    `json:"granted"`
	BrowserHash []byte      `json:"browser"`
}

// consent is an employee's remembered consent to a client.
type consent struct {
	ClientName string    `json:"client_name"`
	RedirectTo string    `json:"redirect_host"`
	Scopes     []string  `json:"scopes"`
	GrantedAt  time.Time `json:"granted_at"`
	// Families are the refresh-token families issued under this consent,
	// revoked with it.
	Families []string `json:"families,omitempty"`
	// Generation is new for each consent given after none was held (the
	// first, or one after a revocation or expiry); a refresh-token family
	// works only while the consent it was issued under is the current
	// one, whatever Families still lists.
	Generation string `json:"generation"`
}

// codeRecord is an authorization code's grant.
type codeRecord struct {
	Params  authzParams `json:"params"`
	Subject Subject     `json:"subject"`
	Granted []string    `json:"granted"`
	Family  string      `json:"family"`
	// Generation is the consent's, when the code was issued.
	Generation string `json:"generation"`
}

// refreshRecord is one refresh token.
type refreshRecord struct {
	Family   string   `json:"family"`
	ClientID string   `json:"client_id"`
	Subject  Subject  `json:"subject"`
	Scopes   []string `json:"scopes"`
	Resource string   `json:"resource"`
}

// familyRecord is a chain of rotated refresh tokens from one code.
type familyRecord struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	Sub        string `json:"sub"`
	// Generation is the consent's the family was issued under.
	Generation string    `json:"generation"`
	Revoked    bool      `json:"revoked,omitempty"`
	Expires    time.Time `json:"expires"`
}

// records reads and writes JSON records in the store.
type records struct{ st store.Store }

func (r records) get(ctx context.Context, ns, key string, v any) (bool, error) {
	raw, ok, err := r.st.Get(ctx, ns, key)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("store %s: corrupt record: %w", ns, err)
	}
	return true, nil
}

func (r records) put(ctx context.Context, ns, key string, v any, expires time.Time) error {
	raw, err := marshalRecord(v)
	if err != nil {
		return err
	}
	return r.st.Put(ctx, ns, key, raw, expires)
}

// marshalRecord encodes a record as compact JSON without HTML escaping,
// which would make a value full of '<', '>' and '&' six times its size in
// the store.
func marshalRecord(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// take reads a single-use record and deletes it. Of two concurrent takes
// of one key, only one gets the record: the marker namespace ns+"-taken"
// is created once.
func (r records) take(ctx context.Context, ns, key string, v any, expires time.Time) (bool, error) {
	ok, err := r.get(ctx, ns, key, v)
	if err != nil || !ok {
		return false, err
	}
	first, err := r.st.Create(ctx, ns+"-taken", key, []byte{1}, expires)
	if err != nil || !first {
		return false, err
	}
	return true, r.st.Delete(ctx, ns, key)
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// isBase64URL reports whether s is unpadded base64url of minLen to maxLen
// characters: the shape of a randomToken. Keys that a browser or a client
// sends back (a state, a consent id, a client id) are checked with it
// before they reach the store, which may refuse other text (PostgreSQL
// refuses NUL and invalid UTF-8): a store error anyone could cause.
func isBase64URL(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// hashKey is the store key of a secret: its SHA-256, base64url-encoded.
func hashKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func hashBytes(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// consentKey is the store key of a user's consent to a client.
func consentKey(sub, clientID string) string {
	return hashKey(sub) + "." + hashKey(clientID)
}
