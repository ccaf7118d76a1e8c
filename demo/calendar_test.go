package demo

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
)

// startCalendar starts a calendar on an ephemeral port and closes it when
// the test ends.
func startCalendar(t *testing.T, opts *CalendarOptions) *Calendar {
	t.Helper()
	if opts == nil {
		opts = &CalendarOptions{}
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	c, err := StartCalendar(t.Context(), "127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("StartCalendar: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// browser is a scripted browser: it keeps cookies and stops at redirects.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// withBearer is an HTTP client that sends tok on every request.
func withBearer(tok string) *http.Client {
	return oauth2.NewClient(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}))
}

// connectCalendar connects to the calendar in era with t's transport and
// closes the session when the test ends.
func connectCalendar(t *testing.T, tr *mcp.StreamableClientTransport, era string) *mcp.ClientSession {
	t.Helper()
	cs, err := newClient(nil).Connect(t.Context(), tr, eras()[era])
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// listEvents calls list_events and returns its structured result.
func listEvents(t *testing.T, cs *mcp.ClientSession) eventList {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "list_events", Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("list_events: %v", err)
	}
	if res.IsError {
		t.Fatalf("list_events: tool error %q", firstText(t, res))
	}
	var out eventList
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("list_events: structured content %s: %v", b, err)
	}
	return out
}

func titles(l eventList) []string {
	var ts []string
	for _, e := range l.Events {
		ts = append(ts, e.Title)
	}
	return ts
}

func createEvent(t *testing.T, cs *mcp.ClientSession, title string) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "create_event", Arguments: map[string]any{
		"title": title, "start": "2026-12-10T09:00:00Z", "end": "2026-12-10T11:00:00+01:00",
	}})
	if err != nil {
		t.Fatalf("create_event: %v", err)
	}
	return res
}

// TestCalendarGoSDKOAuthFlow is the flow an MCP client (and the gateway's
// oauth upstream kind) goes through, with go-sdk's own OAuth client:
// anonymous discovery, then a tool call answered 401 → RFC 9728 metadata →
// RFC 8414 metadata → RFC 7591 registration → authorize (the fetcher signs
// in on the calendar's page as alice) → code exchange with PKCE and
// resource → the retried call succeeds for alice.
func TestCalendarGoSDKOAuthFlow(t *testing.T) {
	t.Parallel()
	for era := range eras() {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			c := startCalendar(t, nil)
			var signIns atomic.Int32
			cfg := devsignin.DevOAuthConfig(browser(), "alice", "calendar test", &signIns)
			cfg.DynamicClientRegistrationConfig.Metadata.GrantTypes = []string{"authorization_code", "refresh_token"}
			h, err := auth.NewAuthorizationCodeHandler(cfg)
			if err != nil {
				t.Fatal(err)
			}
			cs := connectCalendar(t, &mcp.StreamableClientTransport{Endpoint: c.URL, OAuthHandler: h}, era)
			tools, err := cs.ListTools(t.Context(), nil)
			if err != nil {
				t.Fatalf("ListTools: %v", err)
			}
			if len(tools.Tools) != 2 || signIns.Load() != 0 || len(c.SeenAuthorization()) != 0 {
				t.Fatalf("discovery: %d tools, %d sign-ins, %d Authorization headers; want 2 tools, anonymously",
					len(tools.Tools), signIns.Load(), len(c.SeenAuthorization()))
			}
			got := listEvents(t, cs)
			if got.Owner != "alice" || !slices.Contains(titles(got), "Design review: upstream credentials") {
				t.Errorf("list_events = %+v, want alice's calendar", got)
			}
			if res := createEvent(t, cs, "Calendar demo"); res.IsError {
				t.Fatalf("create_event: %s", firstText(t, res))
			}
			if got := listEvents(t, cs); !slices.Contains(titles(got), "Calendar demo") {
				t.Errorf("after create_event, list_events = %v", titles(got))
			}
			if signIns.Load() != 1 {
				t.Errorf("%d sign-ins, want 1", signIns.Load())
			}
			ts, _ := h.TokenSource(t.Context())
			tok, err := ts.Token()
			if err != nil || tok.RefreshToken == "" {
				t.Errorf("client's token: err %v, refresh token %q; want one", err, tok.RefreshToken)
			}
			for _, a := range c.SeenAuthorization() {
				if a != "Bearer "+tok.AccessToken {
					t.Errorf("calendar saw Authorization %.20q…, want only the token it issued", a)
				}
			}
		})
	}
}

// TestCalendarOAuthFlowByHand walks the same flow step by step with a plain
// oauth2.Config, checking each document, then refreshes the token.
func TestCalendarOAuthFlowByHand(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, nil)
	ctx := t.Context()

	// The challenge names the metadata and the scopes.
	status, hdr, _ := postMCP(t, c.URL, "", callBody("list_events"))
	chs, err := oauthex.ParseWWWAuthenticate(hdr.Values("WWW-Authenticate"))
	if status != http.StatusUnauthorized || err != nil || len(chs) != 1 {
		t.Fatalf("anonymous tools/call: status %d, challenges %v (%v); want 401 with one challenge", status, chs, err)
	}
	wantParams := map[string]string{"resource_metadata": c.MetadataURL, "scope": "calendar.read calendar.write", "error_description": "an access token is required"}
	if diff := cmp.Diff(wantParams, chs[0].Params); diff != "" {
		t.Errorf("challenge params (-want +got):\n%s", diff)
	}

	prm, err := oauthex.GetProtectedResourceMetadata(ctx, c.MetadataURL, c.URL, nil)
	if err != nil {
		t.Fatalf("protected resource metadata: %v", err)
	}
	if !slices.Equal(prm.AuthorizationServers, []string{c.Issuer}) || !slices.Equal(prm.ScopesSupported, calendarScopes) {
		t.Errorf("metadata: authorization_servers %v, scopes_supported %v", prm.AuthorizationServers, prm.ScopesSupported)
	}
	asm, err := auth.GetAuthServerMetadata(ctx, c.Issuer, http.DefaultClient)
	if err != nil || asm == nil {
		t.Fatalf("authorization server metadata: %v", err)
	}
	if !slices.Equal(asm.CodeChallengeMethodsSupported, []string{"S256"}) || !slices.Contains(asm.GrantTypesSupported, "refresh_token") || asm.RegistrationEndpoint == "" {
		t.Errorf("AS metadata: S256 %v, grants %v, registration %q", asm.CodeChallengeMethodsSupported, asm.GrantTypesSupported, asm.RegistrationEndpoint)
	}

	cfg := registerByHand(t, asm)
	tok := signInByHand(t, c, cfg, "bob")
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	cs := connectCalendar(t, &mcp.StreamableClientTransport{Endpoint: c.URL, HTTPClient: withBearer(tok.AccessToken)}, "2025-11-25")
	if got := listEvents(t, cs); got.Owner != "bob" || !slices.Equal(titles(got), []string{"Payroll close"}) {
		t.Errorf("bob's list_events = %+v", got)
	}

	// Refresh: a new access token and a rotated refresh token.
	fresh, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh gave access %t new, refresh %t new", fresh.AccessToken != tok.AccessToken, fresh.RefreshToken != tok.RefreshToken)
	}
	cs2 := connectCalendar(t, &mcp.StreamableClientTransport{Endpoint: c.URL, HTTPClient: withBearer(fresh.AccessToken)}, "2026-07-28")
	if got := listEvents(t, cs2); got.Owner != "bob" {
		t.Errorf("with the refreshed token, list_events owner = %q", got.Owner)
	}
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("replayed refresh token: err %v, want invalid_grant", err)
	}
}

// registerByHand registers a public client for the code and refresh grants.
func registerByHand(t *testing.T, asm *oauthex.AuthServerMeta) *oauth2.Config {
	t.Helper()
	reg, err := oauthex.RegisterClient(t.Context(), asm.RegistrationEndpoint, &oauthex.ClientRegistrationMetadata{
		RedirectURIs: []string{handCallback}, GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "none",
	}, nil)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return &oauth2.Config{
		ClientID:    reg.ClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: asm.AuthorizationEndpoint, TokenURL: asm.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: handCallback,
		Scopes:      calendarScopes,
	}
}

const handCallback = "http://127.0.0.1:9/callback"

// signInByHand signs user in for the client cfg and exchanges the code,
// with PKCE and the calendar as the resource.
func signInByHand(t *testing.T, c *Calendar, cfg *oauth2.Config, user string) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	resource := oauth2.SetAuthURLParam("resource", c.URL)
	loc, err := devsignin.DevSignIn(t.Context(), browser(), cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), resource), user)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	q := loc.Query()
	if q.Get("state") != "st-1" || q.Get("iss") != c.Issuer || q.Get("code") == "" {
		t.Fatalf("authorization response %s: want state, iss %s and a code", loc, c.Issuer)
	}
	tok, err := cfg.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(verifier), resource)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// A configured client (the gateway with a client ID and secret) signs
// employees in with client_secret_basic and gets refresh tokens.
func TestCalendarConfiguredClient(t *testing.T) {
	t.Parallel()
	client := devidp.StaticClient{ID: "mcpgate", Secret: "s3cret", RedirectURIs: []string{handCallback}}
	c := startCalendar(t, &CalendarOptions{Clients: []devidp.StaticClient{client}})
	cfg := &oauth2.Config{
		ClientID: client.ID, ClientSecret: client.Secret,
		Endpoint:    oauth2.Endpoint{AuthURL: c.Issuer + "/authorize", TokenURL: c.Issuer + "/token", AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL: handCallback,
		Scopes:      []string{ScopeCalendarRead},
	}
	tok := signInByHand(t, c, cfg, "carol")
	if tok.RefreshToken == "" || tok.Extra("scope") != ScopeCalendarRead {
		t.Errorf("token: refresh %t, scope %v; want a refresh token and calendar.read", tok.RefreshToken != "", tok.Extra("scope"))
	}
	fresh, err := cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	cs := connectCalendar(t, &mcp.StreamableClientTransport{Endpoint: c.URL, HTTPClient: withBearer(fresh.AccessToken)}, "2025-11-25")
	if got := listEvents(t, cs); got.Owner != "carol" {
		t.Errorf("owner %q, want carol", got.Owner)
	}
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "create_event", Arguments: map[string]any{}}); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("create_event with a calendar.read token: err %v, want the 403", err)
	}
	cfg.ClientSecret = "wrong"
	if _, err := cfg.Exchange(t.Context(), "x", oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Error("a wrong client secret was accepted")
	}
}

// Events belong to the token's subject: what alice creates, bob never sees.
func TestCalendarPerEmployee(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, nil)
	session := func(user string) *mcp.ClientSession {
		tok, err := c.Token(user)
		if err != nil {
			t.Fatal(err)
		}
		return connectCalendar(t, &mcp.StreamableClientTransport{Endpoint: c.URL, HTTPClient: withBearer(tok)}, "2025-11-25")
	}
	alice, bob, mallory := session("alice"), session("bob"), session("mallory")
	if res := createEvent(t, alice, "Alice's secret offsite"); res.IsError {
		t.Fatalf("create_event: %s", firstText(t, res))
	}
	if got := titles(listEvents(t, bob)); slices.Contains(got, "Alice's secret offsite") {
		t.Errorf("bob sees alice's event: %v", got)
	}
	if got := listEvents(t, mallory); got.Owner != "mallory" || len(got.Events) != 0 {
		t.Errorf("mallory's calendar = %+v, want empty", got)
	}
	if got := titles(listEvents(t, alice)); !slices.Contains(got, "Alice's secret offsite") {
		t.Errorf("alice's calendar lacks her event: %v", got)
	}
	if n := len(c.SeenAuthorization()); n == 0 {
		t.Error("SeenAuthorization recorded nothing")
	}
}

func TestCalendarCreateEventValidation(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, nil)
	tok, _ := c.Token("carol")
	cs := connectCalendar(t, &mcp.StreamableClientTransport{Endpoint: c.URL, HTTPClient: withBearer(tok)}, "2026-07-28")
	valid := map[string]any{"title": "t", "start": "2026-12-10T09:00:00Z", "end": "2026-12-10T10:00:00Z"}
	cases := map[string]struct {
		key  string
		val  any
		want string
	}{
		"empty title":     {"title", "  ", "title"},
		"long title":      {"title", strings.Repeat("é", maxEventText+1), "title"},
		"bad start":       {"start", "tomorrow", "start"},
		"bad end":         {"end", "2026-12-10 10:00", "end"},
		"end before":      {"end", "2026-12-10T08:00:00Z", "end"},
		"too long":        {"end", "2027-02-10T08:00:00Z", "end"},
		"long location":   {"location", strings.Repeat("x", maxEventText+1), "location"},
		"title is number": {"title", 7, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			args := map[string]any{}
			for k, v := range valid {
				args[k] = v
			}
			args[tc.key] = tc.val
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "create_event", Arguments: args})
			if err != nil {
				t.Fatalf("CallTool: %v", err)
			}
			if !res.IsError || !strings.Contains(firstText(t, res), tc.want) {
				t.Errorf("result error=%t %q; want a tool error naming %q", res.IsError, firstText(t, res), tc.want)
			}
		})
	}
	if got := listEvents(t, cs); len(got.Events) != 1 {
		t.Errorf("carol has %d events after only invalid creations, want her 1 seeded", len(got.Events))
	}
}

func TestCalendarListing(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, nil)
	if c.Name != CalendarName || !strings.HasSuffix(c.URL, "/mcp") || c.Issuer != strings.TrimSuffix(c.URL, "/mcp")+"/auth" ||
		c.MetadataURL != strings.TrimSuffix(c.URL, "/mcp")+"/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("Calendar = %s %s %s %s", c.Name, c.URL, c.Issuer, c.MetadataURL)
	}
	origin := strings.TrimSuffix(c.URL, "/mcp")
	for path, want := range map[string]map[string]any{
		"/.well-known/oauth-protected-resource":        {"resource": c.URL, "authorization_servers": []any{c.Issuer}},
		"/.well-known/oauth-protected-resource/mcp":    {"resource": c.URL, "authorization_servers": []any{c.Issuer}},
		"/.well-known/oauth-authorization-server/auth": {"issuer": c.Issuer, "registration_endpoint": c.Issuer + "/register"},
		"/auth/.well-known/oauth-authorization-server": {"issuer": c.Issuer, "token_endpoint": c.Issuer + "/token"},
		"/.well-known/openid-configuration/auth":       {"issuer": c.Issuer},
	} {
		resp, err := http.Get(origin + path)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, %v", path, resp.StatusCode, err)
		}
		for k, v := range want {
			if diff := cmp.Diff(v, doc[k]); diff != "" {
				t.Errorf("GET %s: %s (-want +got):\n%s", path, k, diff)
			}
		}
	}
	cs := connectCalendar(t, &mcp.StreamableClientTransport{Endpoint: c.URL}, "2025-11-25")
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, tool := range res.Tools {
		got[tool.Name] = tool.Annotations != nil && tool.Annotations.ReadOnlyHint
	}
	if diff := cmp.Diff(map[string]bool{"list_events": true, "create_event": false}, got); diff != "" {
		t.Errorf("tools and read-only hints (-want +got):\n%s", diff)
	}
}

func TestStartCalendarRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	if _, err := StartCalendar(t.Context(), "0.0.0.0:0", nil); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("StartCalendar(0.0.0.0:0) err = %v, want ErrNotLoopback", err)
	}
}
