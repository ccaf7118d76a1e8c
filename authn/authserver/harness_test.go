package authserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
	"github.com/mcpgate/mcpgate/store"
)

// The harness: the authorization server mounted on a real loopback
// listener the way the gateway mounts it (its Routes on a ServeMux),
// federating to the development IdP on a listener of its own, with a
// bbolt store, a test Granter (the policy engine's interface) and a
// scripted browser with a cookie jar.

// Clients of every harness, in the configuration.
var (
	publicClient = testClient{id: "app", method: "none"}
	// basicClient and postClient are one confidential client, authenticating
	// either way.
	basicClient = testClient{id: "conf", secret: "conf-secret", method: "basic"}
	postClient  = testClient{id: "conf", secret: "conf-secret", method: "post"}
	// nativeClient registered http://127.0.0.1/cb: any port matches.
	nativeClient = testClient{id: "native", method: "none"}
)

// issuerPath is the path of the issuer of the tests of an issuer with a
// path.
const issuerPath = "/as"

// clientRedirect is where the test clients are sent back: nobody listens
// there, the browser never follows the redirect, tests read the Location.
const clientRedirect = "http://127.0.0.1:9/cb"

// The scope catalogue of every harness.
var testScopes = []Scope{
	{Name: "tools:read", Description: "See the tools"},
	{Name: "tools:write", Description: "Call tools that change things"},
	{Name: "admin", Description: "Administer the gateway"},
}

// testGranter is the policy engine as the server sees it: it grants each
// user the scopes of a fixed table (all of them, requested or not: the
// server must keep only what was asked for) and records every call.
type testGranter struct {
	mu      sync.Mutex
	allowed map[string][]string
	grants  []GrantRequest
	regs    []RegistrationRequest
	fail    bool // Grant and Register return an error
	refuse  bool // Register refuses
}

func newTestGranter() *testGranter {
	return &testGranter{allowed: map[string][]string{
		"alice": {"tools:read", "tools:write", "unknown:scope"},
		"bob":   {"tools:read"},
	}}
}

func (g *testGranter) Grant(_ context.Context, req *GrantRequest) ([]string, []string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := *req
	r.Requested, r.Current = slices.Clone(req.Requested), slices.Clone(req.Current)
	g.grants = append(g.grants, r)
	if g.fail {
		return []string{"tools:read"}, nil, errors.New("policy engine unavailable")
	}
	return slices.Clone(g.allowed[req.Subject.Sub]), []string{"table"}, nil
}

func (g *testGranter) Register(_ context.Context, req *RegistrationRequest) (bool, []string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.regs = append(g.regs, *req)
	switch {
	case g.fail:
		return true, nil, errors.New("policy engine unavailable")
	case g.refuse:
		return false, []string{"unapproved application"}, nil
	}
	return true, nil, nil
}

func (g *testGranter) set(f func(g *testGranter)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

// lastGrant returns the latest grant request.
func (g *testGranter) lastGrant(t *testing.T) GrantRequest {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.grants) == 0 {
		t.Fatal("the Granter was never asked")
	}
	return g.grants[len(g.grants)-1]
}

func (g *testGranter) grantCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.grants)
}

func (g *testGranter) registrations() []RegistrationRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.regs)
}

// countingStore is the real store, counting the writes per namespace, so
// that tests can assert that nothing was stored.
type countingStore struct {
	store.Store
	mu     sync.Mutex
	writes map[string]int
}

func (s *countingStore) count(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes[ns]++
}

func (s *countingStore) Put(ctx context.Context, ns, key string, value []byte, expires time.Time) error {
	s.count(ns)
	return s.Store.Put(ctx, ns, key, value, expires)
}

func (s *countingStore) Create(ctx context.Context, ns, key string, value []byte, expires time.Time) (bool, error) {
	s.count(ns)
	return s.Store.Create(ctx, ns, key, value, expires)
}

// written returns the writes to each of namespaces (all if none).
func (s *countingStore) written(namespaces ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for ns, c := range s.writes {
		if len(namespaces) == 0 || slices.Contains(namespaces, ns) {
			n += c
		}
	}
	return n
}

// harness is a gateway with its authorization server, and the IdP.
type harness struct {
	t       *testing.T
	granter *testGranter
	opts    Options
	// srv and store are the (first) replica's.
	srv   *Server
	store *countingStore
	// dsn, if set, is a PostgreSQL database that replicas servers share;
	// else a bbolt file at dbPath serves one server.
	dsn      string
	replicas int
	dbPath   string
	gw       *httptest.Server
	// muxes serve the replicas, each request the next one.
	muxes atomic.Pointer[[]*http.ServeMux]
	next  atomic.Uint64
	idp   *httptest.Server
	keys  []*ecdsa.PrivateKey
}

// newHarness starts the IdP and the gateway, one server on a bbolt store;
// edit, if not nil, changes the options before New.
func newHarness(t *testing.T, edit func(*Options)) *harness {
	t.Helper()
	return startHarness(t, &harness{replicas: 1, dbPath: filepath.Join(t.TempDir(), "as.db")}, edit)
}

// newReplicatedHarness is newHarness with replicas servers on one
// PostgreSQL database, the requests going to each in turn.
func newReplicatedHarness(t *testing.T, dsn string, replicas int) *harness {
	t.Helper()
	return startHarness(t, &harness{replicas: replicas, dsn: dsn}, nil)
}

func startHarness(t *testing.T, h *harness, edit func(*Options)) *harness {
	t.Helper()
	h.t, h.granter = t, newTestGranter()
	h.gw = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		muxes := *h.muxes.Load()
		muxes[(h.next.Add(1)-1)%uint64(len(muxes))].ServeHTTP(w, r)
	}))
	t.Cleanup(h.gw.Close)
	idpIssuer := h.startIdP()
	h.keys = []*ecdsa.PrivateKey{newKey(t)}
	h.opts = Options{
		Issuer:   h.gw.URL,
		Resource: h.gw.URL + "/mcp",
		Granter:  h.granter,
		IdP: IdP{Issuer: idpIssuer, ClientID: "gateway", ClientSecret: "gateway-secret",
			Scopes: []string{"openid", "email", "profile"}},
		Keys:   []crypto.Signer{h.keys[0]},
		Scopes: testScopes,
		Clients: []StaticClient{
			{ID: publicClient.id, Name: "Public App", RedirectURIs: []string{clientRedirect}},
			{ID: basicClient.id, Name: "Confidential App", RedirectURIs: []string{"https://conf.example/cb", clientRedirect}, Secret: basicClient.secret},
			{ID: nativeClient.id, Name: "Native App", RedirectURIs: []string{"http://127.0.0.1/cb"}},
		},
		DynamicRegistration: true,
		AccessTokenTTL:      5 * time.Minute,
		RefreshTokenTTL:     time.Hour,
		RefreshMaxLifetime:  24 * time.Hour,
		ConsentTTL:          30 * 24 * time.Hour,
		Logger:              slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if edit != nil {
		edit(&h.opts)
	}
	h.start()
	return h
}

// startIdP serves the development IdP, with the gateway as its client,
// and returns its issuer.
func (h *harness) startIdP() string {
	mux := http.NewServeMux()
	h.idp = httptest.NewServer(mux)
	h.t.Cleanup(h.idp.Close)
	p, err := devidp.New(devidp.Options{Issuer: h.idp.URL + "/idp", Audience: h.gw.URL + "/mcp",
		Clients: []devidp.StaticClient{{ID: "gateway", Secret: "gateway-secret",
			RedirectURIs: []string{h.gw.URL + PathCallback, h.gw.URL + issuerPath + PathCallback}}},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		h.t.Fatal(err)
	}
	mux.Handle("/idp/", http.StripPrefix("/idp", p.Handler()))
	return h.idp.URL + "/idp"
}

// start opens the stores and serves new Servers with h.opts: a restart
// when they ran before.
func (h *harness) start() {
	h.t.Helper()
	muxes := make([]*http.ServeMux, h.replicas)
	for i := range muxes {
		st := &countingStore{Store: h.openStore(), writes: map[string]int{}}
		h.t.Cleanup(func() { st.Close() })
		opts := h.opts
		opts.Store = st
		s := h.newServer(opts)
		if i == 0 {
			h.srv, h.store = s, st
		}
		muxes[i] = mux(s)
	}
	h.opts.Store = h.store
	h.muxes.Store(&muxes)
}

func (h *harness) openStore() store.Store {
	h.t.Helper()
	var st store.Store
	var err error
	if h.dsn != "" {
		st, err = store.OpenPostgres(h.t.Context(), h.dsn, nil)
	} else {
		st, err = store.OpenFile(h.dbPath, nil)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) newServer(opts Options) *Server {
	h.t.Helper()
	s, err := New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func mux(s *Server) *http.ServeMux {
	m := http.NewServeMux()
	for pattern, handler := range s.Routes() {
		m.Handle(pattern, handler)
	}
	return m
}

// restart closes the store and starts new Servers on the same file or
// database.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.store.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.start()
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verifier returns the gateway's verifier of the server's tokens.
func (h *harness) verifier(s *Server) *authn.Verifier {
	h.t.Helper()
	v, err := authn.NewVerifier(authn.Config{Resource: h.opts.Resource, Issuers: []authn.IssuerConfig{s.IssuerConfig()},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// verify verifies an access token as the gateway does.
func (h *harness) verify(token string) *authn.Identity {
	h.t.Helper()
	id, err := h.verifier(h.srv).Verify(h.t.Context(), token)
	if err != nil {
		h.t.Fatalf("verify the access token: %v", err)
	}
	return id
}

// testClient is how a test client authenticates at the token endpoint:
// method none, basic or post.
type testClient struct {
	id, secret, method string
}

// authRequest is a client's authorization request, with its PKCE
// verifier.
type authRequest struct {
	client   testClient
	redirect string
	scope    string
	state    string
	verifier string
	// params replace the request's parameters; an empty value removes one.
	params url.Values
}

func newAuthRequest(c testClient, scope string) *authRequest {
	return &authRequest{client: c, redirect: clientRedirect, scope: scope,
		state: randomToken(12), verifier: randomToken(40)}
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (h *harness) authorizeURL(ar *authRequest) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {ar.client.id}, "redirect_uri": {ar.redirect},
		"state": {ar.state}, "code_challenge": {s256(ar.verifier)}, "code_challenge_method": {"S256"},
		"resource": {h.opts.Resource},
	}
	if ar.scope != "" {
		q.Set("scope", ar.scope)
	}
	for k, v := range ar.params {
		if len(v) == 0 || v[0] == "" {
			q.Del(k)
		} else {
			q[k] = v
		}
	}
	return h.opts.Issuer + PathAuthorize + "?" + q.Encode()
}

// response is an HTTP answer, read.
type response struct {
	status int
	header http.Header
	body   string
}

func (r *response) location() *url.URL {
	u, _ := url.Parse(r.header.Get("Location"))
	return u
}

// clientRedirectQuery returns the query of a redirect to the client's
// redirect URI, failing the test if r is anything else.
func (r *response) clientRedirectQuery(t *testing.T, redirect string) url.Values {
	t.Helper()
	loc := r.header.Get("Location")
	if r.status != http.StatusFound && r.status != http.StatusSeeOther || !strings.HasPrefix(loc, redirect+"?") {
		t.Fatalf("got status %d, Location %q, want a redirect to %s: %s", r.status, loc, redirect, r.body)
	}
	return r.location().Query()
}

// wantErrorPage checks that r is an HTML error page with status and title
// and sends the browser nowhere.
func (r *response) wantErrorPage(t *testing.T, status int, title string) {
	t.Helper()
	if r.status != status || r.header.Get("Location") != "" || !strings.Contains(r.body, "<h1>"+title+"</h1>") {
		t.Errorf("got status %d, Location %q, body %q; want an error page %d %q", r.status, r.header.Get("Location"),
			truncate(r.body, 2000), status, title)
	}
}

// browser is a scripted browser: a cookie jar, redirects not followed.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	// Its own transport: httptest.Server.Close closes the idle connections
	// of http.DefaultTransport, which broke a request of a parallel test
	// that had just picked one ("CloseIdleConnections called").
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) *response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(u string) *response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

// post sends a form; headers are name, value pairs.
func (b *browser) post(u string, form url.Values, headers ...string) *response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// signInAtIdP opens u (the authorize URL, or the grants page), signs in
// at the IdP as user, and returns the IdP's redirect to the gateway's
// callback, not followed.
func (b *browser) signInAtIdP(u, user string) string {
	b.t.Helper()
	loc, err := devsignin.DevSignIn(b.t.Context(), b.c, u, user)
	if err != nil {
		b.t.Fatalf("sign in at the IdP: %v", err)
	}
	if !strings.Contains(loc.Path, PathCallback) {
		b.t.Fatalf("the IdP sent the browser to %s, want the gateway's callback", loc)
	}
	return loc.String()
}

// signIn opens the authorize URL, signs in at the IdP as user and returns
// the gateway's answer to the callback: the consent page, or a redirect
// to the client.
func (b *browser) signIn(authorizeURL, user string) *response {
	b.t.Helper()
	return b.get(b.signInAtIdP(authorizeURL, user))
}

var (
	consentIDRE = regexp.MustCompile(`<input type="hidden" name="consent" value="([^"]+)">`)
	csrfRE      = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`)
)

// hiddenField returns the value of a page's hidden field.
func hiddenField(t *testing.T, page *response, re *regexp.Regexp) string {
	t.Helper()
	m := re.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("got status %d, Location %q, want a page with a form: %s", page.status, page.header.Get("Location"), truncate(page.body, 2000))
	}
	return html.UnescapeString(m[1])
}

// consentID returns the consent id of a consent page.
func consentID(t *testing.T, page *response) string {
	t.Helper()
	return hiddenField(t, page, consentIDRE)
}

// answerConsent answers a consent page with decision (allow or deny).
func (b *browser) answerConsent(page *response, decision string, headers ...string) *response {
	b.t.Helper()
	id := consentID(b.t, page)
	return b.post(page.formAction(b.t), url.Values{"consent": {id}, "decision": {decision}}, headers...)
}

var formActionRE = regexp.MustCompile(`<form method="post" action="([^"]+)">`)

func (r *response) formAction(t *testing.T) string {
	t.Helper()
	m := formActionRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no form action in %s", truncate(r.body, 2000))
	}
	return html.UnescapeString(m[1])
}

// authorize runs the browser's part of an authorization as user,
// allowing on the consent page if there is one, and returns the client's
// redirect query and the consent page (nil if none was shown).
func (h *harness) authorize(b *browser, ar *authRequest, user string) (url.Values, *response) {
	h.t.Helper()
	page := b.signIn(h.authorizeURL(ar), user)
	if page.status != http.StatusOK {
		return page.clientRedirectQuery(h.t, ar.redirect), nil
	}
	return b.answerConsent(page, "allow").clientRedirectQuery(h.t, ar.redirect), page
}

// code runs authorize and returns the code, checking state and iss.
func (h *harness) code(b *browser, ar *authRequest, user string) string {
	h.t.Helper()
	q, _ := h.authorize(b, ar, user)
	h.checkCodeRedirect(q, ar)
	return q.Get("code")
}

func (h *harness) checkCodeRedirect(q url.Values, ar *authRequest) {
	h.t.Helper()
	if q.Get("code") == "" || q.Get("state") != ar.state || q.Get("iss") != h.opts.Issuer {
		h.t.Fatalf("redirect to the client: %v, want a code, state %q and iss %q", q, ar.state, h.opts.Issuer)
	}
}

// checkErrorRedirect checks a redirect to the client with error code,
// ar's state and the issuer, and no code.
func (h *harness) checkErrorRedirect(q url.Values, ar *authRequest, code string) {
	h.t.Helper()
	if q.Get("error") != code || q.Get("code") != "" || q.Get("state") != ar.state || q.Get("iss") != h.opts.Issuer {
		h.t.Errorf("redirect to the client: %v, want error %s with state %q and iss %q", q, code, ar.state, h.opts.Issuer)
	}
}

// tokenAnswer is a token endpoint's answer: tokens, or an OAuth error.
type tokenAnswer struct {
	status int
	header http.Header
	tokenResponse
	err oauthError
}

// token posts form to the token endpoint as c.
func (h *harness) token(c testClient, form url.Values) *tokenAnswer {
	return h.postToken(h.opts.Issuer+PathToken, c, form)
}

// postToken posts form to a token or revocation endpoint as c.
func (h *harness) postToken(endpoint string, c testClient, form url.Values) *tokenAnswer {
	h.t.Helper()
	form = cloneValues(form)
	req, _ := http.NewRequest(http.MethodPost, endpoint, nil)
	switch c.method {
	case "basic":
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	case "post":
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	default:
		form.Set("client_id", c.id)
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := &tokenAnswer{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.tokenResponse); err != nil {
			h.t.Fatalf("token endpoint: status %d: decode %q: %v", resp.StatusCode, raw, err)
		}
		json.Unmarshal(raw, &a.err)
	}
	return a
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vals := range v {
		out[k] = slices.Clone(vals)
	}
	return out
}

// redeem exchanges a code of ar, with ar's verifier and redirect URI.
func (h *harness) redeem(ar *authRequest, code string) *tokenAnswer {
	h.t.Helper()
	return h.token(ar.client, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {ar.redirect}, "code_verifier": {ar.verifier}})
}

func (h *harness) refresh(c testClient, refreshToken string) *tokenAnswer {
	h.t.Helper()
	return h.token(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// wantTokens checks a successful token response with scope.
func (a *tokenAnswer) wantTokens(t *testing.T, scope string) {
	t.Helper()
	if a.status != http.StatusOK || a.AccessToken == "" || a.RefreshToken == "" || a.TokenType != "Bearer" || a.Scope != scope {
		t.Fatalf("token response: status %d, %+v, want tokens with scope %q", a.status, a, scope)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

// wantError checks an OAuth error response.
func (a *tokenAnswer) wantError(t *testing.T, status int, code string) {
	t.Helper()
	if a.status != status || a.err.Code != code || a.AccessToken != "" {
		t.Errorf("token response: status %d, %+v, want %d %s", a.status, a, status, code)
	}
}

// login runs a whole authorization as user and redeems the code.
func (h *harness) login(b *browser, ar *authRequest, user, scope string) *tokenAnswer {
	h.t.Helper()
	a := h.redeem(ar, h.code(b, ar, user))
	a.wantTokens(h.t, scope)
	return a
}

// registerClient posts client metadata to the registration endpoint.
func (h *harness) registerClient(body string, contentType string) (int, map[string]any) {
	h.t.Helper()
	resp, err := http.Post(h.opts.Issuer+PathRegister, contentType, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil && resp.StatusCode != http.StatusNotFound {
		h.t.Fatalf("register: status %d: decode %q: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, out
}

// docServerRoots returns a pool trusting a metadata document server.
func docServerRoots(s *docServer) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return pool
}

// jsonDecode decodes a JSON body into v, failing the test if it is not JSON.
func jsonDecode(t *testing.T, r io.Reader, v any) {
	t.Helper()
	raw, _ := io.ReadAll(r)
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
}
