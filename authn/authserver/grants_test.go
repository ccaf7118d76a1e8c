package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
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
