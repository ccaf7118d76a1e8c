package devidp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// harness is a provider mounted on a real loopback listener the way the
// gateway mounts it: under /dev/idp, at its root well-known paths and at
// /dev/token.
type harness struct {
	p        *Provider
	mux      *http.ServeMux
	srv      *httptest.Server
	issuer   string
	audience string
	clock    *clock
	// http does not follow redirects, so tests can read Location.
	http *http.Client
}

func newHarness(t *testing.T) *harness { t.Helper(); return newHarnessWith(t, nil) }

// newHarnessWith is newHarness with the provider's options edited by edit
// (if not nil) before New.
func newHarnessWith(t *testing.T, edit func(*Options)) *harness {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h := &harness{mux: mux, srv: srv, issuer: srv.URL + "/dev/idp", audience: srv.URL + "/mcp", clock: &clock{}}
	h.clock.ns.Store(time.Now().UnixNano())
	opts := Options{
		Issuer:   h.issuer,
		Audience: h.audience,
		Scopes:   []string{"mcp"},
		Logger:   slog.New(slog.DiscardHandler),
		Now:      h.clock.now,
	}
	if edit != nil {
		edit(&opts)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.p = p
	mux.Handle("/dev/idp/", http.StripPrefix("/dev/idp", p.Handler()))
	for _, path := range p.WellKnownPaths() {
		mux.Handle(path, p.Handler())
	}
	mux.Handle("/dev/token", p.DevTokenHandler())
	h.http = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h
}

// do sends a request and returns the status, headers and body.
func (h *harness) do(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, body
}

func (h *harness) get(t *testing.T, u string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return h.do(t, req)
}

func (h *harness) postForm(t *testing.T, u string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(t, req)
}

// registered is a client registered through /register.
type registered struct {
	ID, Secret string
	Redirect   string
}

// register registers a client with the given metadata and returns the
// status and decoded body.
func (h *harness) register(t *testing.T, md any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(md)
	req, _ := http.NewRequest(http.MethodPost, h.issuer+"/register", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	status, _, body := h.do(t, req)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("register: decode %q: %v", body, err)
	}
	return status, out
}

// newClient registers a client with one loopback redirect URI.
func (h *harness) newClient(t *testing.T, authMethod string) registered {
	t.Helper()
	redirect := "http://127.0.0.1:9/callback"
	status, out := h.register(t, map[string]any{"redirect_uris": []string{redirect}, "client_name": "test", "token_endpoint_auth_method": authMethod})
	if status != http.StatusCreated {
		t.Fatalf("register: status %d: %v", status, out)
	}
	secret, _ := out["client_secret"].(string)
	return registered{ID: out["client_id"].(string), Secret: secret, Redirect: redirect}
}

const testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier"

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeParams are valid authorization request parameters for c.
func (h *harness) authorizeParams(c registered) url.Values {
	return url.Values{
		"client_id":             {c.ID},
		"redirect_uri":          {c.Redirect},
		"response_type":         {"code"},
		"state":                 {"st-123"},
		"code_challenge":        {s256(testVerifier)},
		"code_challenge_method": {"S256"},
		"scope":                 {"mcp"},
		"resource":              {h.audience},
	}
}

// code runs the sign-in for c as alice and returns the authorization code.
func (h *harness) code(t *testing.T, c registered) string {
	t.Helper()
	return h.signInCode(t, h.authorizeParams(c))
}

// signInCode runs the sign-in as alice for the authorization request params
// and returns the authorization code.
func (h *harness) signInCode(t *testing.T, params url.Values) string {
	t.Helper()
	loc, err := devsignin.DevSignIn(t.Context(), h.http, h.issuer+"/authorize?"+params.Encode(), "alice")
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in redirect %s", loc)
	}
	return code
}

// tokenForm is a valid token request for code issued to c.
func (h *harness) tokenForm(c registered, code string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {c.Redirect},
		"client_id":     {c.ID},
		"code_verifier": {testVerifier},
		"resource":      {h.audience},
	}
}

// oauthErr decodes an RFC 6749 error body.
func oauthErr(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decode error body %q: %v", body, err)
	}
	return e.Error
}
