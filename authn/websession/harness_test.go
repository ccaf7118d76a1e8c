package websession

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/internal/testtools/dex"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// Users of the Dex the tests sign in at.
var (
	alice = dex.DexUser{Email: "alice@example.com", Username: "alice", Name: "Alice Liddell", Password: "alice-password",
		Groups: []string{"engineering", "mcp-users"}}
	bob = dex.DexUser{Email: "bob@example.com", Username: "bob", Password: "bob-password", Groups: []string{"hr"}}
	// many has too many groups for a browser session.
	many = dex.DexUser{Email: "many@example.com", Username: "many", Password: "carol-password", Groups: manyGroups(200)}
)

func manyGroups(n int) []string {
	g := make([]string, n)
	for i := range g {
		g[i] = fmt.Sprintf("a-rather-long-group-name-%04d", i)
	}
	return g
}

// harness is a gateway-like server with websession mounted, signing in at
// a real Dex: /page shows the signed-in identity and CSRF token, POST
// /action needs them.
type harness struct {
	t    *testing.T
	dex  *dex.Dex
	srv  *httptest.Server
	opts Options
	m    *Manager
	// secretErr, when set, is what the client secret source fails with.
	secretErr atomic.Pointer[error]
}

// startHarness starts Dex and the server; tweak, if not nil, changes the
// Manager's options.
func startHarness(t *testing.T, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t}
	var handler atomic.Pointer[http.Handler]
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(h.srv.Close)
	client := dex.DexClient{ID: "mcpgate-web", Secret: "web-secret", RedirectURIs: []string{h.srv.URL + PathCallback}}
	other := dex.DexClient{ID: "other-app", Secret: "other-secret", RedirectURIs: []string{h.srv.URL + PathCallback}}
	h.dex = dex.StartDex(t, []dex.DexClient{client, other}, []dex.DexUser{alice, bob, many})
	secret := func() (string, error) {
		if err := h.secretErr.Load(); err != nil {
			return "", *err
		}
		return client.Secret, nil
	}
	h.opts = Options{Issuer: h.dex.Issuer, ClientID: client.ID, ClientSecret: secret,
		Scopes: []string{"openid", "email", "profile", "groups"}, BaseURL: h.srv.URL, Keys: [][]byte{testKey(1)}}
	if tweak != nil {
		tweak(&h.opts)
	}
	h.m = h.manager(h.opts)
	mux := http.NewServeMux()
	for _, p := range h.m.Paths() {
		mux.Handle(p, h.m.Handler())
	}
	mux.Handle("GET /page", h.m.Require(http.HandlerFunc(servePage(h.m))))
	mux.Handle("POST /action", h.m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		fmt.Fprintf(w, "done for %s", id.Email)
	})))
	var hd http.Handler = mux
	handler.Store(&hd)
	return h
}

func (h *harness) manager(o Options) *Manager {
	h.t.Helper()
	m, err := New(context.Background(), o)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// pageView is what /page shows.
type pageView struct {
	Identity *authn.Identity
	CSRF     string
}

func servePage(m *Manager) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		if !ok {
			http.Error(w, "no identity in a Require'd handler", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(pageView{Identity: id, CSRF: m.CSRFToken(r)})
	}
}

// browser is a scripted browser: a cookie jar, no automatic redirects.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and returns the response with its body read.
func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

// post sends a form, with extra headers.
func (b *browser) post(u string, form url.Values, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

// cookie returns the browser's cookie name for the harness's server.
func (b *browser) cookie(srv *httptest.Server, name string) *http.Cookie {
	u, _ := url.Parse(srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setCookie replaces the browser's cookie name.
func (b *browser) setCookie(srv *httptest.Server, name, value string) {
	u, _ := url.Parse(srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// startSignIn opens next's sign-in link and returns where it sends the
// browser: Dex's authorization endpoint.
func (h *harness) startSignIn(b *browser, next string) string {
	h.t.Helper()
	u := h.srv.URL + PathSignIn
	if next != "" {
		u += "?next=" + url.QueryEscape(next)
	}
	resp, body := b.get(u)
	if resp.StatusCode != http.StatusFound {
		h.t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, h.dex.AuthURL()+"?") {
		h.t.Fatalf("GET %s sent the browser to %s, want Dex's authorization endpoint", u, loc)
	}
	return loc
}

// atDex signs user in at Dex and returns the callback URL Dex sends the
// browser to.
func (h *harness) atDex(b *browser, authURL string, user dex.DexUser) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cb, err := h.dex.SignIn(ctx, b.c, authURL, user.Email, user.Password)
	if err != nil {
		h.t.Fatal(err)
	}
	if !strings.HasPrefix(cb.String(), h.srv.URL+PathCallback+"?") {
		h.t.Fatalf("Dex sent the browser to %s, want the callback", cb)
	}
	return cb.String()
}

// signIn runs the whole flow for user towards next and returns the
// callback's response.
func (h *harness) signIn(b *browser, user dex.DexUser, next string) (*http.Response, string) {
	h.t.Helper()
	return b.get(h.atDex(b, h.startSignIn(b, next), user))
}

// page opens /page and returns what it shows.
func (h *harness) page(b *browser) pageView {
	h.t.Helper()
	resp, body := b.get(h.srv.URL + "/page")
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET /page: %s (Location %q): %s", resp.Status, resp.Header.Get("Location"), body)
	}
	var v pageView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		h.t.Fatalf("GET /page: %v: %s", err, body)
	}
	return v
}

// signedIn returns a browser in which user is signed in, and its page.
func (h *harness) signedIn(user dex.DexUser) (*browser, pageView) {
	h.t.Helper()
	b := newBrowser(h.t)
	if resp, body := h.signIn(b, user, "/page"); resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("callback: %s: %s", resp.Status, body)
	}
	return b, h.page(b)
}
