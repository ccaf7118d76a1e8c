package e2e

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
	"github.com/mcpgate/mcpgate/internal/testtools/dex"
	"github.com/mcpgate/mcpgate/internal/testtools/postgres"
)

// TestAuthServerReplicasSharePostgres runs two `mcpgate serve` processes
// in authorization-server mode with one PostgreSQL store and one signing
// key, behind one public URL, as replicas do. A client signs in through
// replica a (go-sdk's OAuth client, Dex as the IdP); replica b accepts its
// access token and refreshes its refresh token; the spent refresh token,
// presented again at a, is refused and revokes its whole family, at both
// replicas.
func TestAuthServerReplicasSharePostgres(t *testing.T) {
	t.Parallel()
	pg := postgres.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	rr := testtools.StartRoundRobin(t)
	f := newASFixture(t, rr.URL)
	store, dsn := `{kind: postgres, dsn_from_env: MCPGATE_E2E_STORE_DSN}`, "MCPGATE_E2E_STORE_DSN="+pg.NewDatabase(t)
	a, _ := f.start(t, "a", testtools.FreeAddr(t), store, dsn)
	b, _ := f.start(t, "b", testtools.FreeAddr(t), store, dsn)
	tokenURL := func(s *testtools.Server) string { return "http://" + s.Addr + "/oauth/token" }

	// Signed in through a: the public URL leads only there.
	rr.Add("http://" + a.Addr)
	o := newDexOAuth(t, f.dex)
	cs := connectOAuth(t, ctx, rr.URL+"/mcp", o)
	checkTools(t, ctx, "signed in through a", cs)
	first := o.firstToken()

	checkTools(t, ctx, "a's token at b", connectWithToken(t, ctx, "http://"+b.Addr+"/mcp", first.AccessToken))

	refreshed, err := o.refresh(ctx, tokenURL(b), first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh a's refresh token at b: %v", err)
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == first.RefreshToken {
		t.Errorf("refresh at b: refresh token %q, want a new one (rotation)", refreshed.RefreshToken)
	}
	checkTools(t, ctx, "b's refreshed token at a", connectWithToken(t, ctx, "http://"+a.Addr+"/mcp", refreshed.AccessToken))

	// Reuse: the spent token at a is refused, and revokes the family: the
	// token b issued in its place is refused too.
	if _, err := o.refresh(ctx, tokenURL(a), first.RefreshToken); !isInvalidGrant(err) {
		t.Errorf("the spent refresh token again, at a: %v, want invalid_grant", err)
	}
	// The log line is written before the answer, but read from the
	// process's pipe a little later.
	logged := false
	for deadline := time.Now().Add(5 * time.Second); !logged && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		logged = strings.Contains(a.Output(), "refresh token used twice: its family is revoked")
	}
	if !logged {
		t.Error("replica a did not log the reuse of a refresh token")
	}
	if _, err := o.refresh(ctx, tokenURL(b), refreshed.RefreshToken); !isInvalidGrant(err) {
		t.Errorf("the refresh token of the revoked family, at b: %v, want invalid_grant", err)
	}
}

// TestAuthServerRestartKeepsState restarts a gateway in
// authorization-server mode with the embedded file store: the client's
// dynamic registration and the refresh token outlive the process, and the
// same client id authorizes again. (The client is public with a loopback
// redirect, so the employee confirms each authorization on the consent
// page; that the consent itself survives is authserver's TestRestart, with
// a confidential client.)
func TestAuthServerRestartKeepsState(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := testtools.FreeAddr(t)
	f := newASFixture(t, "http://"+addr)
	store := `{path: "` + f.dir + `/store.db"}`
	gw, _ := f.start(t, "before", addr, store)

	o := newDexOAuth(t, f.dex)
	checkTools(t, ctx, "before the restart", connectOAuth(t, ctx, f.publicURL+"/mcp", o))
	first := o.firstToken()
	if n := o.consents.Load(); n != 1 {
		t.Fatalf("consent pages answered before the restart: %d, want 1", n)
	}

	if err := gw.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := gw.Wait(ctx); err != nil {
		t.Fatalf("gateway after SIGTERM: %v", err)
	}
	f.start(t, "after", addr, store)

	tok, err := o.authorize(ctx, f.publicURL+"/mcp", "notes:read")
	if err != nil {
		t.Fatalf("authorize the registered client again after the restart: %v", err)
	}
	if n := o.consents.Load(); n != 2 {
		t.Errorf("consent pages answered: %d, want 2 (a public loopback client confirms each authorization)", n)
	}
	checkTools(t, ctx, "after the restart", connectWithToken(t, ctx, f.publicURL+"/mcp", tok.AccessToken))
	if _, err := o.refresh(ctx, f.publicURL+"/oauth/token", first.RefreshToken); err != nil {
		t.Errorf("refresh token issued before the restart: %v", err)
	}
}

func checkTools(t *testing.T, ctx context.Context, what string, cs *mcp.ClientSession) {
	t.Helper()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("%s: list tools: %v", what, err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff(aliceTools, names); diff != "" {
		t.Errorf("%s: tools (-want +got):\n%s", what, diff)
	}
}

func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// dexOAuth is go-sdk's OAuth client (dynamic registration, authorization
// code with PKCE) whose browser signs alice in at Dex through the gateway
// and allows on its consent page. It keeps what the test needs: the
// client's OAuth configuration and first token, and the consent pages
// answered.
type dexOAuth struct {
	t        *testing.T
	idp      *dex.Dex
	browser  *http.Client
	consents atomic.Int32

	mu    sync.Mutex
	cfg   *oauth2.Config
	first *oauth2.Token
}

func newDexOAuth(t *testing.T, idp *dex.Dex) *dexOAuth {
	o := &dexOAuth{t: t, idp: idp, browser: browser(t)}
	o.browser.Transport = consentCounter{next: http.DefaultTransport, n: &o.consents}
	return o
}

// consentCounter counts the consent forms a browser posts.
type consentCounter struct {
	next http.RoundTripper
	n    *atomic.Int32
}

func (c consentCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.Path == "/oauth/consent" {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}

// handler returns go-sdk's OAuth handler.
func (o *dexOAuth) handler() *auth.AuthorizationCodeHandler {
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{asClientRedirect},
				ClientName: "mcpgate e2e (go-sdk)", TokenEndpointAuthMethod: "none",
				GrantTypes: []string{"authorization_code", "refresh_token"}},
		},
		AuthorizationCodeFetcher: o.fetchCode,
		NewTokenSource: func(ctx context.Context, cfg *oauth2.Config, tok *oauth2.Token) (oauth2.TokenSource, error) {
			o.mu.Lock()
			o.cfg, o.first = cfg, tok
			o.mu.Unlock()
			return cfg.TokenSource(ctx, tok), nil
		},
	})
	if err != nil {
		o.t.Fatal(err)
	}
	return h
}

// fetchCode plays the browser: the gateway's authorize URL, Dex's login
// form, the gateway's consent page, the client's redirect URI.
func (o *dexOAuth) fetchCode(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	loc, err := o.idp.SignIn(ctx, o.browser, args.URL, asAlice.Email, asAlice.Password)
	if err != nil {
		return nil, err
	}
	if loc, err = devsignin.FollowToClient(ctx, o.browser, loc, asClientRedirect, "allow"); err != nil {
		return nil, err
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return nil, errors.New("authorization error " + e + ": " + q.Get("error_description"))
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

// firstToken is the token of the client's first authorization.
func (o *dexOAuth) firstToken() *oauth2.Token {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.first == nil || o.first.RefreshToken == "" {
		o.t.Fatalf("the client has no token with a refresh token: %+v", o.first)
	}
	return o.first
}

// config is a copy of the client's OAuth configuration.
func (o *dexOAuth) config() oauth2.Config {
	o.mu.Lock()
	defer o.mu.Unlock()
	return *o.cfg
}

// refresh redeems refreshToken at tokenURL.
func (o *dexOAuth) refresh(ctx context.Context, tokenURL, refreshToken string) (*oauth2.Token, error) {
	cfg := o.config()
	cfg.Endpoint.TokenURL = tokenURL
	return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// authorize runs another authorization of the registered client, for
// scope, and redeems its code.
func (o *dexOAuth) authorize(ctx context.Context, resource, scope string) (*oauth2.Token, error) {
	cfg := o.config()
	cfg.Scopes = []string{scope}
	verifier, state := oauth2.GenerateVerifier(), "state-after"
	res, err := o.fetchCode(ctx, &auth.AuthorizationArgs{URL: cfg.AuthCodeURL(state,
		oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resource))})
	if err != nil {
		return nil, err
	}
	if res.State != state {
		return nil, errors.New("state mismatch: " + res.State)
	}
	return cfg.Exchange(ctx, res.Code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
}

// connectOAuth connects to endpoint with go-sdk's OAuth client.
func connectOAuth(t *testing.T, ctx context.Context, endpoint string, o *dexOAuth) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-e2e-go", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, OAuthHandler: o.handler()}, nil)
	if err != nil {
		t.Fatalf("connect with go-sdk's OAuth client: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}
