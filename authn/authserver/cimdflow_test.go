package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// cimdHarness serves a metadata document on a TLS loopback server (its
// client_id is its URL, unless extra changes it) and starts a harness
// that accepts metadata documents, trusting the server, and reaching
// private addresses if allowPrivate.
func cimdHarness(t *testing.T, allowPrivate bool, extra map[string]any) (*harness, *docServer, testClient) {
	t.Helper()
	doc := newDocServer(t, func(w http.ResponseWriter, _ *http.Request, id string) {
		e := map[string]any{"redirect_uris": []string{clientRedirect}}
		for k, v := range extra {
			e[k] = v
		}
		serveDoc(w, id, e)
	})
	h := newHarness(t, func(o *Options) {
		o.MetadataDocuments = true
		o.MetadataDocumentsAllowPrivate = allowPrivate
		o.MetadataDocumentsRootCAs = docServerRoots(doc)
	})
	return h, doc, testClient{id: doc.URL + "/client.json", method: "none"}
}

func TestCIMDFlow(t *testing.T) {
	t.Parallel()
	h, doc, c := cimdHarness(t, true, nil)
	b := newBrowser(t)
	ar := newAuthRequest(c, "tools:read")
	page := b.signIn(h.authorizeURL(ar), "alice")
	host := strings.TrimPrefix(doc.URL, "https://")
	for _, want := range []string{"Allow Example MCP Client to use", "identified by " + host + ", which publishes", "<code>127.0.0.1</code>"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("consent page lacks %q:\n%s", want, page.body)
		}
	}
	q := b.answerConsent(page, "allow").clientRedirectQuery(t, clientRedirect)
	h.checkCodeRedirect(q, ar)
	a := h.redeem(ar, q.Get("code"))
	a.wantTokens(t, "tools:read")
	h.checkIdentity(a.AccessToken, c.id, "tools:read")
	h.refresh(c, a.RefreshToken).wantTokens(t, "tools:read")
	regs := h.granter.registrations()
	if len(regs) == 0 || regs[0].Method != MethodMetadataDocument || regs[0].Metadata.ClientID != c.id {
		t.Errorf("registration requests %+v, want metadata_document of %s", regs, c.id)
	}
	if n := doc.hits.Load(); n != 1 {
		t.Errorf("the document was fetched %d times, want once (cached)", n)
	}
	// A secret is refused: a document client is public.
	h.token(testClient{id: c.id, secret: "x", method: "post"}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}).
		wantError(t, http.StatusUnauthorized, "invalid_client")
}

func TestCIMDRefusals(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		allowPrivate bool
		extra        map[string]any
		refuse       bool
		status       int
		title        string
		fetched      bool
	}{
		"private address": {status: http.StatusBadRequest, title: "Application not recognised"},
		"other client_id": {allowPrivate: true, extra: map[string]any{"client_id": "https://other.example/client.json"},
			status: http.StatusBadRequest, title: "Application not recognised", fetched: true},
		// The policy is asked with the client id alone before anything is
		// fetched: a refused host is never contacted.
		"refused by policy": {allowPrivate: true, refuse: true, status: http.StatusForbidden, title: "Application not allowed", fetched: false},
		"other redirect": {allowPrivate: true, extra: map[string]any{"redirect_uris": []string{"https://elsewhere.example/cb"}},
			status: http.StatusBadRequest, title: "Unregistered redirect", fetched: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, doc, c := cimdHarness(t, tc.allowPrivate, tc.extra)
			h.granter.set(func(g *testGranter) { g.refuse = tc.refuse })
			newBrowser(t).get(h.authorizeURL(newAuthRequest(c, "tools:read"))).wantErrorPage(t, tc.status, tc.title)
			if n := doc.hits.Load(); (n > 0) != tc.fetched {
				t.Errorf("the document server got %d requests, want fetched %v", n, tc.fetched)
			}
			if n := h.store.written(); n != 0 {
				t.Errorf("%d records stored", n)
			}
		})
	}
}

func TestCIMDSwitchedOff(t *testing.T) {
	t.Parallel()
	doc := newDocServer(t, func(w http.ResponseWriter, _ *http.Request, id string) { serveDoc(w, id, nil) })
	h := newHarness(t, nil)
	ar := newAuthRequest(testClient{id: doc.URL + "/client.json"}, "tools:read")
	newBrowser(t).get(h.authorizeURL(ar)).wantErrorPage(t, http.StatusBadRequest, "Application not recognised")
	if n := doc.hits.Load(); n != 0 {
		t.Errorf("the document server got %d requests with metadata documents off", n)
	}
}
