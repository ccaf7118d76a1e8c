package gateway

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/jwtkeys"
	"github.com/mcpgate/mcpgate/telemetry"
)

// AssertionJWKSPath is where the gateway publishes the keys of its identity
// assertions, for upstreams to verify them.
const AssertionJWKSPath = "/.well-known/mcpgate/identity-assertion-jwks.json"

// AssertionType is the JWS "typ" of identity assertions. An explicit type
// keeps them apart from the access tokens the gateway issues as
// authorization server (at+jwt), even when both are signed with one key.
const AssertionType = "identity-assertion+jwt"

// ErrNoAssertionKeys is returned by New when a server's auth kind is
// identity_assertion and Options.AssertionKeys is nil.
var ErrNoAssertionKeys = errors.New("gateway: a server uses auth kind identity_assertion: Options.AssertionKeys is required")

// AssertionKeys sign the identity assertions the gateway sends to upstreams
// of auth kind identity_assertion and, as an http.Handler, publish them as
// a JSON Web Key Set (serve it at AssertionJWKSPath).
type AssertionKeys struct {
	set *jwtkeys.Set
}

// NewAssertionKeys builds the assertion keys from
// config.Provisioned.IdentityAssertionKeys: the first signs, all are
// published, each under its RFC 7638 thumbprint as kid.
func NewAssertionKeys(keys []crypto.Signer) (*AssertionKeys, error) {
	set, err := jwtkeys.New(keys, AssertionType)
	if err != nil {
		return nil, fmt.Errorf("gateway: identity assertion keys: %w", err)
	}
	return &AssertionKeys{set: set}, nil
}

// ServeHTTP serves the JSON Web Key Set.
func (k *AssertionKeys) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(k.set.JWKS())
}

// assertionClaims are what an identity assertion says. The employee's own
// token is never among them.
type assertionClaims struct {
	jwt.Claims
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	// Groups is always present, empty for the gateway itself.
	Groups []string `json:"groups"`
	// ClientID is the MCP client the employee called through.
	ClientID string `json:"client_id,omitempty"`
	// IdP is the issuer that signed the employee in (authn.Identity.Issuer).
	IdP string `json:"idp,omitempty"`
}

// employeeClaims are the claims of id's assertions to upstream s.
func employeeClaims(issuer string, s config.Server, id *authn.Identity) assertionClaims {
	c := assertionClaims{
		Claims: jwt.Claims{Issuer: issuer, Subject: id.Subject, Audience: jwt.Audience{s.AssertionAudience()}},
		Email:  id.Email, Name: id.Name, Groups: id.Groups, ClientID: id.ClientID, IdP: id.Issuer,
	}
	if c.Groups == nil {
		c.Groups = []string{}
	}
	return c
}

// serviceClaims are the claims of the gateway's own assertions to upstream
// s, used for the shared session that lists the catalog: the subject is the
// gateway's issuer itself (sub == iss), which no employee's subject from
// another issuer can be mistaken for.
func serviceClaims(issuer string, s config.Server) assertionClaims {
	return assertionClaims{
		Claims: jwt.Claims{Issuer: issuer, Subject: issuer, Audience: jwt.Audience{s.AssertionAudience()}},
		Groups: []string{},
	}
}

// assertionSource mints the assertions of one subject for one upstream and
// keeps each until it is within margin of its expiry.
type assertionSource struct {
	keys    *AssertionKeys
	claims  assertionClaims
	ttl     time.Duration
	margin  time.Duration
	server  string             // the upstream, for the metric
	metrics *telemetry.Metrics // nil: none

	mu    sync.Mutex
	token string
	exp   time.Time
}

func newAssertionSource(keys *AssertionKeys, claims assertionClaims, ttl, margin time.Duration, server string, metrics *telemetry.Metrics) *assertionSource {
	return &assertionSource{keys: keys, claims: claims, ttl: ttl, margin: min(margin, ttl/2), server: server, metrics: metrics}
}

// Token returns a valid assertion, minting a new one when the cached one
// expires within the margin.
func (a *assertionSource) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if a.token != "" && a.exp.Sub(now) > a.margin {
		a.metrics.RecordUpstreamToken(ctx, a.server, telemetry.UpstreamTokenCached)
		return a.token, nil
	}
	c := a.claims
	c.IssuedAt = jwt.NewNumericDate(now)
	c.Expiry = jwt.NewNumericDate(now.Add(a.ttl))
	c.ID = randomID()
	token, err := jwt.Signed(a.keys.set.Signer()).Claims(c).Serialize()
	if err != nil {
		a.metrics.RecordUpstreamToken(ctx, a.server, telemetry.UpstreamTokenFailed)
		return "", fmt.Errorf("%w: sign identity assertion: %w", errTokenFetch, err)
	}
	a.metrics.RecordUpstreamToken(ctx, a.server, telemetry.UpstreamTokenFetched)
	a.token, a.exp = token, c.Expiry.Time()
	return token, nil
}

// Invalidate drops token (the upstream refused it), unless it was already
// replaced.
func (a *assertionSource) Invalidate(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
}

// assertionIssuer is the iss of the gateway's assertions: its public URL.
func assertionIssuer(cfg *config.Config) string {
	return strings.TrimSuffix(cfg.MCPURL(), "/mcp")
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
