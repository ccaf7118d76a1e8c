package authserver

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testtools/postgres"
)

// TestPostgres runs servers on one PostgreSQL server, a database each.
func TestPostgres(t *testing.T) {
	t.Parallel()
	srv := postgres.Start(t)
	t.Run("replicas", func(t *testing.T) { t.Parallel(); testReplicas(t, srv.NewDatabase(t)) })
	t.Run("hostile keys", func(t *testing.T) { t.Parallel(); testHostileKeys(t, srv.NewDatabase(t)) })
}

// Two replicas on one database, each request going to the other one:
// every step of a flow is served by another replica than the one before,
// as behind a load balancer without session affinity.
func testReplicas(t *testing.T, dsn string) {
	h := newReplicatedHarness(t, dsn, 2)
	b := newBrowser(t)
	status, reg := h.registerClient(`{"client_name":"Dyn","redirect_uris":["`+clientRedirect+`"]}`, "application/json")
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, reg)
	}
	dyn := testClient{id: reg["client_id"].(string), secret: reg["client_secret"].(string), method: "basic"}
	for _, c := range []testClient{publicClient, dyn} {
		ar := newAuthRequest(c, "tools:read")
		code := h.code(b, ar, "alice")
		a := h.redeem(ar, code)
		a.wantTokens(t, "tools:read")
		h.checkIdentity(a.AccessToken, c.id, "tools:read")
		next := h.refresh(c, a.RefreshToken)
		next.wantTokens(t, "tools:read")
		// Reuse is seen across replicas.
		h.refresh(c, a.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
		h.refresh(c, next.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
		h.redeem(ar, code).wantError(t, http.StatusBadRequest, "invalid_grant")
	}
	// The consent is shared, and so is its revocation.
	a := h.login(b, newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	g := newBrowser(t)
	page := h.openGrants(g, "alice")
	if r := g.post(h.opts.Issuer+PathGrants, url.Values{"csrf": {hiddenField(t, page, csrfRE)}, "client_id": {publicClient.id}}); r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.status)
	}
	h.refresh(publicClient, a.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
}

// Keys a browser or a client chooses (state, consent id, client id) must
// not reach PostgreSQL as text it refuses (NUL, invalid UTF-8): that would
// be a store failure anyone can cause, a 503 where a 400 is due.
func testHostileKeys(t *testing.T, dsn string) {
	h := newReplicatedHarness(t, dsn, 1)
	b := newBrowser(t)
	for _, key := range []string{"\x00" + randomToken(12), "\xff\xfe" + randomToken(12), ""} {
		b.get(h.opts.Issuer+PathCallback+"?"+url.Values{"state": {key}, "code": {"x"}}.Encode()).
			wantErrorPage(t, http.StatusBadRequest, "Sign-in expired")
		b.post(h.opts.Issuer+PathConsent, url.Values{"consent": {key}, "decision": {"allow"}}).
			wantErrorPage(t, http.StatusBadRequest, "Consent expired")
		ar := newAuthRequest(testClient{id: key}, "tools:read")
		b.get(h.authorizeURL(ar)).wantErrorPage(t, http.StatusBadRequest, "Unknown application")
		h.refresh(testClient{id: key, method: "none"}, "x").wantError(t, http.StatusUnauthorized, "invalid_client")
		h.refresh(testClient{id: "mcpgate-" + key, method: "none"}, "x").wantError(t, http.StatusUnauthorized, "invalid_client")
	}
}
