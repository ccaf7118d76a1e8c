package dex_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/dex"
)

var (
	dexGateway = dex.DexClient{ID: "mcpgate-gateway", Secret: "gateway-secret",
		RedirectURIs: []string{"http://127.0.0.1:8765/oauth/callback"}}
	// The upstream trusts the gateway: the gateway may ask for tokens whose
	// audience includes the upstream (scope audience:server:client_id:mcp-upstream).
	dexUpstream = dex.DexClient{ID: "mcp-upstream", Secret: "upstream-secret",
		TrustedPeers: []string{"mcpgate-gateway"}}
	dexAlice = dex.DexUser{Email: "alice@example.com", Username: "alice", Password: "alice-password",
		Name: "Alice Liddell", PreferredUsername: "alice.l", Groups: []string{"mcp-users", "mcp-admins"},
		UserID: "2f1c8c44-7f5e-4d1e-9c3a-0b8f2d7e6a11"}
	dexBob = dex.DexUser{Email: "bob@example.com", Username: "bob", Password: "bob-password"}
)

// claimsOf verifies raw with a go-oidc verifier for clientID and returns
// the token and its claims.
func claimsOf(ctx context.Context, p *oidc.Provider, clientID, raw string) (*oidc.IDToken, map[string]any, error) {
	tok, err := p.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, nil, err
	}
	return tok, claims, nil
}

func logClaims(t *testing.T, what string, claims map[string]any) {
	t.Helper()
	b, _ := json.MarshalIndent(claims, "", "  ")
	t.Logf("%s:\n%s", what, b)
}

func TestDex(t *testing.T) {
	t.Parallel()
	d := dex.StartDex(t, []dex.DexClient{dexGateway, dexUpstream}, []dex.DexUser{dexAlice, dexBob})
	if u, err := url.Parse(d.Issuer); err != nil || u.Hostname() != "127.0.0.1" || u.Path != "/dex" {
		t.Fatalf("issuer %q is not http://127.0.0.1:PORT/dex (%v)", d.Issuer, err)
	}
	if d.ClientID != dexGateway.ID || d.ClientSecret != dexGateway.Secret {
		t.Errorf("ClientID, ClientSecret = %q, %q; want the first client's", d.ClientID, d.ClientSecret)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	provider, err := oidc.NewProvider(ctx, d.Issuer)
	if err != nil {
		t.Fatalf("oidc.NewProvider(%s): %v", d.Issuer, err)
	}
	var disc struct {
		TokenEndpoint string   `json:"token_endpoint"`
		GrantTypes    []string `json:"grant_types_supported"`
		Scopes        []string `json:"scopes_supported"`
		Claims        []string `json:"claims_supported"`
	}
	if err := provider.Claims(&disc); err != nil {
		t.Fatal(err)
	}
	t.Logf("discovery: token_endpoint %s; grant types %v; scopes %v; claims %v",
		disc.TokenEndpoint, disc.GrantTypes, disc.Scopes, disc.Claims)
	if disc.TokenEndpoint != d.TokenURL() {
		t.Errorf("token_endpoint = %s, want %s", disc.TokenEndpoint, d.TokenURL())
	}
	for _, g := range dex.DexGrantTypes {
		if !slices.Contains(disc.GrantTypes, g) {
			t.Errorf("grant type %s not in grant_types_supported %v", g, disc.GrantTypes)
		}
	}

	t.Run("ListensOnlyOnLoopback", func(t *testing.T) {
		addrs := testtools.ListeningAddrs(t, d.Pid)
		u, _ := url.Parse(d.Issuer)
		if len(addrs) != 1 || addrs[0] != u.Host {
			t.Errorf("dex listens on %v, want only %s", addrs, u.Host)
		}
	})

	var aliceToken string
	t.Run("AccessTokenClaims", func(t *testing.T) {
		tr, err := d.PasswordGrant(ctx, dexGateway, dexAlice.Email, dexAlice.Password)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("token response: token_type %q, expires_in %d, scope %q, id_token %v, refresh_token %v",
			tr.TokenType, tr.ExpiresIn, tr.Scope, tr.IDToken != "", tr.RefreshToken != "")
		aliceToken = tr.AccessToken
		tok, claims, err := claimsOf(ctx, provider, dexGateway.ID, tr.AccessToken)
		if err != nil {
			t.Fatalf("verify access token for %s: %v", dexGateway.ID, err)
		}
		logClaims(t, "access token claims (scopes "+strings.Join(dex.DexDefaultScopes, " ")+")", claims)
		if tok.Issuer != d.Issuer || claims["iss"] != d.Issuer {
			t.Errorf("iss = %q, want %q", tok.Issuer, d.Issuer)
		}
		if !slices.Contains(tok.Audience, dexGateway.ID) {
			t.Errorf("aud = %v, want it to contain %s", tok.Audience, dexGateway.ID)
		}
		want := map[string]any{
			"email":              dexAlice.Email,
			"email_verified":     true,
			"name":               dexAlice.Name,
			"preferred_username": dexAlice.PreferredUsername,
			"groups":             []any{"mcp-users", "mcp-admins"},
		}
		for k, v := range want {
			if got, _ := json.Marshal(claims[k]); string(got) != mustJSON(v) {
				t.Errorf("claim %s = %s, want %s", k, got, mustJSON(v))
			}
		}
		if tok.Subject == "" {
			t.Error("no sub")
		}
		if tr.IDToken != "" {
			_, idClaims, err := claimsOf(ctx, provider, dexGateway.ID, tr.IDToken)
			if err != nil {
				t.Fatalf("verify id token: %v", err)
			}
			logClaims(t, "id token claims (same request)", idClaims)
		}
	})

	t.Run("AudienceMismatch", func(t *testing.T) {
		if aliceToken == "" {
			t.Skip("no token")
		}
		_, _, err := claimsOf(ctx, provider, dexUpstream.ID, aliceToken)
		if err == nil || !strings.Contains(err.Error(), "audience") {
			t.Fatalf("token for %s verified for %s: err = %v, want an audience mismatch", dexGateway.ID, dexUpstream.ID, err)
		}
		t.Logf("as expected: %v", err)

		// And the other way round, for another user.
		bob := d.PasswordToken(t, dexUpstream, dexBob.Email, dexBob.Password)
		_, claims, err := claimsOf(ctx, provider, dexUpstream.ID, bob)
		if err != nil {
			t.Fatalf("verify bob's token for %s: %v", dexUpstream.ID, err)
		}
		logClaims(t, "access token claims of a user with no name, preferred username or groups", claims)
		if _, err := provider.Verifier(&oidc.Config{ClientID: dexGateway.ID}).Verify(ctx, bob); err == nil {
			t.Errorf("token for %s verified for %s", dexUpstream.ID, dexGateway.ID)
		}
	})

	t.Run("CrossClientAudience", func(t *testing.T) {
		// dexUpstream trusts dexGateway: the gateway may get a token for both.
		raw := d.PasswordToken(t, dexGateway, dexAlice.Email, dexAlice.Password,
			"openid", "email", "audience:server:client_id:"+dexUpstream.ID)
		tok, claims, err := claimsOf(ctx, provider, dexUpstream.ID, raw)
		if err != nil {
			t.Fatalf("verify cross-client token for %s: %v", dexUpstream.ID, err)
		}
		logClaims(t, "cross-client access token claims", claims)
		if !slices.Equal(tok.Audience, []string{dexUpstream.ID, dexGateway.ID}) || claims["azp"] != dexGateway.ID {
			t.Errorf("aud = %v, azp = %v; want [%s %s], %s", tok.Audience, claims["azp"], dexUpstream.ID, dexGateway.ID, dexGateway.ID)
		}
		// Trust is one-way: the gateway does not trust the upstream.
		_, err = d.PasswordGrant(ctx, dexUpstream, dexAlice.Email, dexAlice.Password,
			"openid", "audience:server:client_id:"+dexGateway.ID)
		if err == nil {
			t.Errorf("%s got a token for untrusting peer %s", dexUpstream.ID, dexGateway.ID)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			client     dex.DexClient
			user, pw   string
			status     int
			code       string
			scopes     []string
			wantInDesc string
		}{
			{"WrongPassword", dexGateway, dexAlice.Email, "bob-password", 401, "access_denied", nil, ""},
			{"UnknownUser", dexGateway, "mallory@example.com", "password", 401, "access_denied", nil, ""},
			{"UsernameIsNotLogin", dexGateway, dexAlice.Username, dexAlice.Password, 401, "access_denied", nil, ""},
			{"WrongClientSecret", dex.DexClient{ID: dexGateway.ID, Secret: "nope"}, dexAlice.Email, dexAlice.Password, 401, "invalid_client", nil, ""},
			{"NoOpenIDScope", dexGateway, dexAlice.Email, dexAlice.Password, 400, "invalid_request", []string{"email"}, "openid"},
		} {
			_, err := d.PasswordGrant(ctx, tc.client, tc.user, tc.pw, tc.scopes...)
			var te *dex.DexTokenError
			if !errors.As(err, &te) || te.Status != tc.status || te.Code != tc.code || !strings.Contains(te.Description, tc.wantInDesc) {
				t.Errorf("%s: err = %v, want HTTP %d %s", tc.name, err, tc.status, tc.code)
			}
		}
	})

	t.Run("SignIn", func(t *testing.T) { testSignIn(t, ctx, d, provider) })
}

// testSignIn signs alice in through Dex's login page, as a relying party's
// browser does, and redeems the code the page sends back.
func testSignIn(t *testing.T, ctx context.Context, d *dex.Dex, provider *oidc.Provider) {
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	rp := oauth2.Config{ClientID: dexGateway.ID, ClientSecret: dexGateway.Secret, Endpoint: provider.Endpoint(),
		RedirectURL: dexGateway.RedirectURIs[0], Scopes: []string{"openid", "email", "groups"}}
	verifier := oauth2.GenerateVerifier()
	loc, err := d.SignIn(ctx, browser, rp.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier)), dexAlice.Email, dexAlice.Password)
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != rp.RedirectURL || loc.Query().Get("state") != "state-1" {
		t.Fatalf("sign-in ended at %s, want %s with state state-1", loc, rp.RedirectURL)
	}
	tok, err := rp.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("redeem the code: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if _, claims, err := claimsOf(ctx, provider, dexGateway.ID, raw); err != nil || claims["email"] != dexAlice.Email {
		t.Errorf("id token of the sign-in: claims %v, %v; want alice's", claims, err)
	}

	_, err = d.SignIn(ctx, browser, rp.AuthCodeURL("state-2"), dexAlice.Email, "bob-password")
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("sign-in with a wrong password: %v, want a refusal", err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestDexCleanup checks that Dex is gone once the subtest that started it
// has finished.
func TestDexCleanup(t *testing.T) {
	t.Parallel()
	var host string
	t.Run("start", func(t *testing.T) {
		d := dex.StartDex(t, nil, nil)
		u, err := url.Parse(d.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		host = u.Host
		// The defaults work.
		d.PasswordToken(t, dex.DefaultDexClient, dex.DefaultDexUser.Email, dex.DefaultDexUser.Password)
	})
	if host == "" {
		t.Skip("dex did not start")
	}
	if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after cleanup", host)
	}
}
