package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var (
	alice = &authn.Identity{Issuer: "https://idp.test", Subject: "alice", Email: "alice@example.com", Groups: []string{"engineering"}, ClientID: "claude"}
	bob   = &authn.Identity{Issuer: "https://idp.test", Subject: "bob", Email: "bob@example.com", Groups: []string{"hr"}, ClientID: "cursor"}
)

// assertingUpstream is a stateful MCP server on loopback that trusts the
// gateway's identity assertions and nothing else: every request's
// Authorization is verified against the JWKS it fetches from the gateway's
// well-known path (signature, typ, iss, aud = itself, exp, with no leeway).
// It binds each of its sessions to the subject of the assertions that use
// it and records any session used by two subjects.
type assertingUpstream struct {
	URL     string
	jwksURL string
	issuer  string

	mu       sync.Mutex
	raw      []string            // every Authorization header, in order
	owner    map[string]string   // Mcp-Session-Id → subject
	shared   []string            // sessions used by a second subject
	deleted  map[string]bool     // sessions the gateway ended (DELETE)
	jtis     map[string][]string // subject → distinct jti, in order
	rejected int
}

func startAssertingUpstream(t *testing.T, gatewayBase string) *assertingUpstream {
	t.Helper()
	u := &assertingUpstream{jwksURL: gatewayBase + AssertionJWKSPath, issuer: gatewayBase,
		owner: map[string]string{}, deleted: map[string]bool{}, jtis: map[string][]string{}}
	srv := mcp.NewServer(&mcp.Implementation{Name: "internal"}, nil)
	srv.AddTool(&mcp.Tool{Name: "whoami", InputSchema: emptyObject}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		u.mu.Lock()
		sub := u.owner[req.Session.ID()]
		u.mu.Unlock()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: sub}}}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	hs := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, ok := u.admit(r)
		if !ok {
			http.Error(w, "invalid assertion", http.StatusUnauthorized)
			return
		}
		u.bind(r, sub)
		h.ServeHTTP(w, r)
	}))
	u.URL = hs.URL + "/mcp"
	return u
}

// admit verifies the request's assertion and returns its subject.
func (u *assertingUpstream) admit(r *http.Request) (string, bool) {
	raw := r.Header.Get("Authorization")
	u.mu.Lock()
	u.raw = append(u.raw, raw)
	u.mu.Unlock()
	token, ok := strings.CutPrefix(raw, "Bearer ")
	if !ok {
		return "", false
	}
	c, err := u.verify(r.Context(), token)
	if err != nil {
		u.mu.Lock()
		u.rejected++
		u.mu.Unlock()
		return "", false
	}
	u.mu.Lock()
	if !slices.Contains(u.jtis[c.Subject], c.ID) {
		u.jtis[c.Subject] = append(u.jtis[c.Subject], c.ID)
	}
	u.mu.Unlock()
	return c.Subject, true
}

func (u *assertingUpstream) verify(ctx context.Context, token string) (*assertionClaims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, err
	}
	if len(tok.Headers) != 1 || tok.Headers[0].ExtraHeaders[jose.HeaderType] != AssertionType {
		return nil, fmt.Errorf("typ is not %s", AssertionType)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.jwksURL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return nil, fmt.Errorf("no key %q", tok.Headers[0].KeyID)
	}
	var c assertionClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return nil, err
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: u.issuer, AnyAudience: jwt.Audience{u.URL}, Time: time.Now()}, 0); err != nil {
		return nil, err
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.ID == "" {
		return nil, fmt.Errorf("exp, iat and jti are required")
	}
	return &c, nil
}

// bind records which subject uses the request's session.
func (u *assertingUpstream) bind(r *http.Request, sub string) {
	id := r.Header.Get("Mcp-Session-Id")
	if id == "" {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if r.Method == http.MethodDelete {
		u.deleted[id] = true
	}
	switch owner, ok := u.owner[id]; {
	case !ok:
		u.owner[id] = sub
	case owner != sub:
		u.shared = append(u.shared, id)
	}
}

// sessionsOf returns the sessions of sub, and how many of them were ended.
func (u *assertingUpstream) sessionsOf(sub string) (ids []string, ended int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for id, owner := range u.owner {
		if owner == sub {
			ids = append(ids, id)
			if u.deleted[id] {
				ended++
			}
		}
	}
	return ids, ended
}

// check fails the test if a session was used by two subjects, an
// assertion was refused, or an employee's own token arrived.
func (u *assertingUpstream) check(t *testing.T) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.shared) > 0 {
		t.Errorf("upstream sessions used by more than one subject: %v", u.shared)
	}
	if u.rejected > 0 {
		t.Errorf("%d requests came without a valid assertion", u.rejected)
	}
	noEmployeeToken(t, u.raw)
}

// assertionGateway starts a gateway on a listener of its own (the public
// URL, and so the assertions' issuer, is its address) with one upstream of
// auth kind identity_assertion, and employees told apart by the test
// header X-Test-User.
func assertionGateway(t *testing.T, ttl time.Duration, edit func(*Options)) (*testGateway, *assertingUpstream) {
	t.Helper()
	keys := newTestAssertionKeys(t)
	ln := loopbackListener(t)
	base := "http://" + ln.Addr().String()
	up := startAssertingUpstream(t, base)
	opts := testOptions()
	opts.AssertionKeys = keys
	opts.Routes = map[string]http.Handler{AssertionJWKSPath: keys}
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{signedInByHeader}
	if edit != nil {
		edit(opts)
	}
	s := upstreamConfig("internal", up.URL)
	s.Auth = &config.UpstreamAuth{Kind: config.AuthIdentityAssertion, TTL: config.Duration(ttl)}
	gw := startGatewayOn(t, ln, opts, func(c *config.Config) {
		c.PublicURL = base
		c.Servers = []config.Server{noPrefix(s)}
	})
	if st := upstreamState(gw.Gateway, "internal"); st != StateReady {
		t.Fatalf("upstream is %s, want ready: the gateway's own assertion was refused", st)
	}
	t.Cleanup(func() { up.check(t) })
	return gw, up
}

// signedInByHeader signs each request in as the employee X-Test-User names
// (alice or bob).
func signedInByHeader(next http.Handler) http.Handler { return signedInAsOneOf(alice, bob)(next) }

// signedInAsOneOf signs each request in as the one of ids X-Test-User
// names.
func signedInAsOneOf(ids ...*authn.Identity) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		h := signedIn(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, id := range ids {
				if r.Header.Get("X-Test-User") == id.Subject {
					r = r.WithContext(withTestIdentity(r.Context(), id))
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

// connectAs opens a client session as id, which sends id's own token.
func connectAs(t *testing.T, gw *testGateway, version string, id *authn.Identity) *mcp.ClientSession {
	t.Helper()
	return connectWith(t, gw.URL, version, nil, employeeHTTPClient(id))
}

// employeeHTTPClient sends id's own token to the gateway, and names id for
// signedInByHeader.
func employeeHTTPClient(id *authn.Identity) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer employee-token-"+id.Subject)
		r.Header.Set("X-Test-User", id.Subject)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

func whoami(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("call whoami: %v", err)
	}
	if res.IsError {
		t.Fatalf("whoami failed: %s", textOf(t, res))
	}
	return textOf(t, res)
}

// Sessions follow credentials: alice's calls arrive as alice over her own
// upstream session, bob's as bob over his, the catalog comes from the
// gateway's own session (sub = iss), and no employee's token arrives.
func TestIdentityAssertionSessionsFollowCredentials(t *testing.T) {
	t.Parallel()
	for era, version := range eras {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			gw, up := assertionGateway(t, time.Minute, nil)
			a, b := connectAs(t, gw, version, alice), connectAs(t, gw, version, bob)
			if got := toolNames(t, a); !slices.Contains(got, "whoami") {
				t.Fatalf("tools = %v, want whoami from the upstream", got)
			}
			for _, step := range []struct {
				cs   *mcp.ClientSession
				want string
			}{{a, "alice"}, {b, "bob"}, {a, "alice"}, {b, "bob"}} {
				if got := whoami(t, step.cs); got != step.want {
					t.Errorf("whoami = %q, want %q", got, step.want)
				}
			}
			for _, sub := range []string{"alice", "bob", up.issuer} {
				if ids, _ := up.sessionsOf(sub); len(ids) != 1 {
					t.Errorf("upstream sessions of %s = %v, want exactly one", sub, ids)
				}
			}
		})
	}
}

// An assertion is replaced before it expires: with a 2s lifetime, a call
// more than 1s after the first carries a new one, over the same session.
func TestIdentityAssertionReminted(t *testing.T) {
	t.Parallel()
	gw, up := assertionGateway(t, 2*time.Second, nil)
	a := connectAs(t, gw, legacy, alice)
	whoami(t, a)
	time.Sleep(1100 * time.Millisecond) // the time itself is the subject
	if got := whoami(t, a); got != "alice" {
		t.Errorf("whoami = %q, want alice", got)
	}
	up.mu.Lock()
	jtis := slices.Clone(up.jtis["alice"])
	up.mu.Unlock()
	if len(jtis) < 2 {
		t.Errorf("alice's assertions = %v, want a new one once the first is within half its lifetime of expiry", jtis)
	}
	if ids, _ := up.sessionsOf("alice"); len(ids) != 1 {
		t.Errorf("alice's sessions = %v, want one: a new assertion does not need a new session", ids)
	}
}

// Idle per-employee sessions are closed.
func TestEmployeeSessionsIdle(t *testing.T) {
	t.Parallel()
	gw, up := assertionGateway(t, time.Minute, func(o *Options) { o.EmployeeSessionIdle = 100 * time.Millisecond })
	a := connectAs(t, gw, modern, alice)
	whoami(t, a)
	eventually(t, "alice's idle upstream session to be closed", func() bool {
		ids, ended := up.sessionsOf("alice")
		return len(ids) == 1 && ended == 1
	})
	if got := whoami(t, a); got != "alice" {
		t.Errorf("whoami after the idle close = %q, want alice over a new session", got)
	}
}

// The bound on per-employee sessions closes the least recently used.
func TestEmployeeSessionsLRU(t *testing.T) {
	t.Parallel()
	gw, up := assertionGateway(t, time.Minute, func(o *Options) { o.EmployeeSessions = 1 })
	a, b := connectAs(t, gw, legacy, alice), connectAs(t, gw, legacy, bob)
	whoami(t, a)
	whoami(t, b)
	eventually(t, "alice's session to be closed for bob's", func() bool {
		_, ended := up.sessionsOf("alice")
		return ended == 1
	})
	// /readyz tells the credential kind and the employee sessions open.
	if st := gw.Status().Upstreams[0]; st.Credential != "identity_assertion" || st.EmployeeSessions != 1 {
		t.Errorf("status: credential %q, %d employee sessions; want identity_assertion and 1 (the bound)", st.Credential, st.EmployeeSessions)
	}
	if _, ended := up.sessionsOf("bob"); ended != 0 {
		t.Errorf("bob's session, the most recently used, was closed")
	}
	if got := whoami(t, a); got != "alice" {
		t.Errorf("whoami = %q, want alice over a new session", got)
	}
}

// Minting an identity assertion counts as fetching a credential, reusing
// one as a cached request, in mcpgate.upstream.token.requests (by server,
// never by user).
func TestAssertionSourceCounted(t *testing.T) {
	t.Parallel()
	keys := newTestAssertionKeys(t)
	reader := sdkmetric.NewManualReader()
	metrics, err := telemetry.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	src := newAssertionSource(keys, assertionClaims{}, time.Minute, 10*time.Second, "internal", metrics)
	first, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if again, err := src.Token(t.Context()); err != nil || again != first {
		t.Fatalf("second Token = %v, %v; want the cached assertion", again == first, err)
	}
	counts := tokenCounts(t, reader, "internal")
	if counts[telemetry.UpstreamTokenFetched] != 1 || counts[telemetry.UpstreamTokenCached] != 1 {
		t.Errorf("counts %v, want 1 fetched (minted) and 1 cached", counts)
	}
}

// newTestAssertionKeys returns assertion keys of one fresh P-256 key.
func newTestAssertionKeys(t *testing.T) *AssertionKeys {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewAssertionKeys([]crypto.Signer{key})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
