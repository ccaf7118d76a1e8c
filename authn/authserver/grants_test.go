package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// openGrants signs b in to the grants page as user and returns the page.
func (h *harness) openGrants(b *browser, user string) *response {
	h.t.Helper()
	grantsURL := h.opts.Issuer + PathGrants
	r := b.get(b.signInAtIdP(grantsURL, user))
	if r.status != http.StatusFound || r.header.Get("Location") != grantsURL {
		h.t.Fatalf("callback: %d to %q, want the grants page", r.status, r.header.Get("Location"))
	}
	return b.get(grantsURL)
}

func TestGrantsPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	app := newBrowser(t)
	a := h.login(app, newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	c := h.login(app, newAuthRequest(basicClient, "tools:write"), "alice", "tools:write")
	h.login(newBrowser(t), newAuthRequest(publicClient, "tools:read"), "bob", "tools:read")

	b := newBrowser(t)
	grantsURL := h.opts.Issuer + PathGrants
	if r := b.get(grantsURL); r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), h.opts.IdP.Issuer+"/authorize?") {
		t.Fatalf("grants page without a session: %d to %q, want the IdP", r.status, r.header.Get("Location"))
	}
	page := h.openGrants(b, "alice")
	for _, want := range []string{"Signed in as alice@example.com", "<strong>Public App</strong>", "<strong>Confidential App</strong>",
		"<code>tools:read</code> — See the tools", "<code>127.0.0.1</code>"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("grants page lacks %q:\n%s", want, page.body)
		}
	}
	csrf := hiddenField(t, page, csrfRE)
	revoke := url.Values{"csrf": {csrf}, "client_id": {publicClient.id}}

	// Refused: no CSRF token, another session's, cross-site, no session.
	b.post(grantsURL, url.Values{"client_id": {publicClient.id}}).wantErrorPage(t, http.StatusForbidden, "Not signed in")
	b.post(grantsURL, url.Values{"csrf": {"x" + csrf}, "client_id": {publicClient.id}}).wantErrorPage(t, http.StatusForbidden, "Not signed in")
	b.post(grantsURL, revoke, "Sec-Fetch-Site", "cross-site").wantStatus(t, http.StatusForbidden)
	b.post(grantsURL, revoke, "Origin", "https://attacker.example").wantStatus(t, http.StatusForbidden)
	newBrowser(t).post(grantsURL, revoke).wantErrorPage(t, http.StatusForbidden, "Not signed in")
	a = h.refresh(publicClient, a.RefreshToken)
	a.wantTokens(t, "tools:read")

	r := b.post(grantsURL, revoke)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != grantsURL+"?revoked=1" {
		t.Fatalf("revoke: %d to %q", r.status, r.header.Get("Location"))
	}
	page = b.get(grantsURL + "?revoked=1")
	if strings.Contains(page.body, "Public App") || !strings.Contains(page.body, "Confidential App") || !strings.Contains(page.body, "Revoked") {
		t.Errorf("grants page after revoking Public App:\n%s", page.body)
	}
	h.refresh(publicClient, a.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
	h.refresh(basicClient, c.RefreshToken).wantTokens(t, "tools:write")
	// The consent is gone: the next authorization asks again.
	ar := newAuthRequest(publicClient, "tools:read")
	if page := app.signIn(h.authorizeURL(ar), "alice"); page.status != http.StatusOK || !strings.Contains(page.body, "Allow Public App") {
		t.Errorf("authorization after revocation: %d, want the consent page", page.status)
	}
	// bob's consent to the same client is his own.
	bob := h.openGrants(newBrowser(t), "bob")
	if !strings.Contains(bob.body, "Public App") || strings.Contains(bob.body, "Confidential App") {
		t.Errorf("bob's grants page:\n%s", bob.body)
	}
}

// Authorizations of one client by one employee at once: revoking the
// consent revokes the refresh tokens of every one of them.
func TestRevokeAfterConcurrentAuthorizations(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.login(newBrowser(t), newAuthRequest(basicClient, "tools:read"), "alice", "tools:read")
	const n = 8
	browsers, requests, callbacks := make([]*browser, n), make([]*authRequest, n), make([]string, n)
	for i := range n {
		browsers[i], requests[i] = newBrowser(t), newAuthRequest(basicClient, "tools:read")
		callbacks[i] = browsers[i].signInAtIdP(h.authorizeURL(requests[i]), "alice")
	}
	answers := make([]*response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = browsers[i].get(callbacks[i]) })
	}
	wg.Wait()
	var refresh []string
	for i, r := range answers {
		q := r.clientRedirectQuery(t, clientRedirect)
		h.checkCodeRedirect(q, requests[i])
		a := h.redeem(requests[i], q.Get("code"))
		a.wantTokens(t, "tools:read")
		refresh = append(refresh, a.RefreshToken)
	}
	g := newBrowser(t)
	page := h.openGrants(g, "alice")
	if r := g.post(h.opts.Issuer+PathGrants, url.Values{"csrf": {hiddenField(t, page, csrfRE)}, "client_id": {basicClient.id}}); r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.status)
	}
	for i, rt := range refresh {
		if a := h.refresh(basicClient, rt); a.status != http.StatusBadRequest {
			t.Errorf("refresh token %d of %d still works after the consent was revoked", i, n)
		}
	}
}

// First consents to several clients at once: the grants page lists them
// all, so that the employee can revoke each.
func TestGrantsPageAfterConcurrentConsents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	const n = 6
	b := newBrowser(t)
	pages := make([]*response, n)
	for i := range pages {
		status, reg := h.registerClient(`{"client_name":"Client `+string(rune('A'+i))+`","redirect_uris":["`+clientRedirect+`"],"token_endpoint_auth_method":"none"}`, "application/json")
		if status != http.StatusCreated {
			t.Fatalf("register: %d", status)
		}
		pages[i] = b.signIn(h.authorizeURL(newAuthRequest(testClient{id: reg["client_id"].(string)}, "tools:read")), "alice")
	}
	var wg sync.WaitGroup
	for _, page := range pages {
		wg.Go(func() { b.answerConsent(page, "allow") })
	}
	wg.Wait()
	grants := h.openGrants(newBrowser(t), "alice")
	for i := range n {
		if name := "Client " + string(rune('A'+i)); !strings.Contains(grants.body, "<strong>"+name+"</strong>") {
			t.Errorf("the grants page does not list %s", name)
		}
	}
}

// TestRevokedConsentEndsFamiliesNotListed: a refresh family works only
// while the consent it was issued under is the current one, so revoking
// the consent ends even a family its list no longer holds (the list is
// bounded: a client can push old families off it with silent
// re-authorizations).
func TestRevokedConsentEndsFamiliesNotListed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.login(newBrowser(t), newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	// Forget the family in the consent's list, as if pushed off it.
	key := consentKey("alice", publicClient.id)
	var c consent
	if ok, err := h.srv.rec.get(t.Context(), nsConsent, key, &c); err != nil || !ok || len(c.Families) != 1 {
		t.Fatalf("consent = %+v, %v, %v; want one family", c, ok, err)
	}
	c.Families = nil
	if err := h.srv.rec.put(t.Context(), nsConsent, key, &c, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	a = h.refresh(publicClient, a.RefreshToken)
	a.wantTokens(t, "tools:read")

	b := newBrowser(t)
	page := h.openGrants(b, "alice")
	r := b.post(h.opts.Issuer+PathGrants, url.Values{"csrf": {hiddenField(t, page, csrfRE)}, "client_id": {publicClient.id}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.status)
	}
	h.refresh(publicClient, a.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
	// A new consent is a new generation: the old family stays refused.
	h.login(newBrowser(t), newAuthRequest(publicClient, "tools:read"), "alice", "tools:read")
	h.refresh(publicClient, a.RefreshToken).wantError(t, http.StatusBadRequest, "invalid_grant")
}
