package authn

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

const testMetadataURL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"

// edge is the request path in front of /mcp in tests: Origin and Host
// checks (loopback gateway), then the bearer middleware, then a handler
// that counts calls and echoes what it saw.
type edge struct {
	*testEnv
	srv    *httptest.Server
	calls  atomic.Int64
	opts   MiddlewareOptions
	target string
}

func newEdge(t *testing.T, e *testEnv) *edge {
	ed := &edge{testEnv: e, opts: MiddlewareOptions{
		ResourceMetadataURL: testMetadataURL,
		Scopes:              []string{"mcp:tools", "offline_access"},
		Logger:              e.logs.logger(),
	}}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ed.calls.Add(1)
		id, _ := FromContext(r.Context())
		ti := auth.TokenInfoFromContext(r.Context())
		fmt.Fprintf(w, "%s|%s|%v", id.Subject, ti.UserID, IdentityFromTokenInfo(ti) == id)
	})
	chain := OriginMiddleware(nil, true, e.logs.logger())(Middleware(e.v, ed.opts)(next))
	ed.srv = httptest.NewServer(chain)
	t.Cleanup(ed.srv.Close)
	ed.target = ed.srv.URL + "/mcp"
	return ed
}

// request describes one request to the edge.
type request struct {
	auth   []string // Authorization header values
	query  string
	origin string
	host   string
}

func (ed *edge) do(t *testing.T, rq request) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ed.target+rq.query, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range rq.auth {
		req.Header.Add("Authorization", a)
	}
	if rq.origin != "" {
		req.Header.Set("Origin", rq.origin)
	}
	if rq.host != "" {
		req.Host = rq.host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// challengeParams parses the response's WWW-Authenticate with go-sdk's
// client-side parser; nil if there is none.
func challengeParams(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	h := resp.Header.Values("WWW-Authenticate")
	if len(h) == 0 {
		return nil
	}
	cs, err := oauthex.ParseWWWAuthenticate(h)
	if err != nil || len(cs) != 1 || cs[0].Scheme != "bearer" {
		t.Fatalf("WWW-Authenticate %q: %v, %+v", h, err, cs)
	}
	return cs[0].Params
}

// TestEdgeRefusals is the bad-input table: every request is refused with
// the right status and RFC 6750 error code, and never reaches the handler.
func TestEdgeRefusals(t *testing.T) {
	e := newTestEnv(t, nil)
	ed := newEdge(t, e)
	now := e.clock.Now().Unix()
	rsaPub := &e.iss.key("RS256").signer.(*rsa.PrivateKey).PublicKey
	der, _ := x509.MarshalPKIXPublicKey(rsaPub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	bearer := func(tok string) []string { return []string{"Bearer " + tok} }
	valid := e.token("alice", nil)
	self := ed.srv.Listener.Addr().String()

	const noChallenge = "-" // no WWW-Authenticate at all
	tests := map[string]struct {
		rq     request
		status int
		code   string // "" = a challenge without error attribute
	}{
		"no token":                  {request{}, 401, ""},
		"Bearer with nothing":       {request{auth: []string{"Bearer"}}, 401, "invalid_token"},
		"Bearer and spaces":         {request{auth: []string{"Bearer    "}}, 401, "invalid_token"},
		"not b64token":              {request{auth: bearer("a!b")}, 401, "invalid_token"},
		"garbage token":             {request{auth: bearer("garbage")}, 401, "invalid_token"},
		"Basic scheme":              {request{auth: []string{"Basic YWxpY2U6cHc="}}, 400, "invalid_request"},
		"Bearer without space":      {request{auth: []string{"Bearer" + valid}}, 400, "invalid_request"},
		"two tokens":                {request{auth: bearer(valid + " " + valid)}, 400, "invalid_request"},
		"comma-separated":           {request{auth: bearer(valid + ",x")}, 400, "invalid_request"},
		"two Authorization":         {request{auth: []string{"Bearer " + valid, "Bearer " + valid}}, 400, "invalid_request"},
		"64 KiB header":             {request{auth: bearer(strings.Repeat("a", 64<<10))}, 431, "invalid_request"},
		"token in the query":        {request{query: "?access_token=" + valid}, 400, "invalid_request"},
		"query token with header":   {request{auth: bearer(valid), query: "?x=1&access_token=" + valid}, 400, "invalid_request"},
		"alg none":                  {request{auth: bearer(e.token("alice", nil, withAlg("none")))}, 401, "invalid_token"},
		"HS256 with RSA PEM":        {request{auth: bearer(e.token("alice", nil, withSecret("HS256", pemKey)))}, 401, "invalid_token"},
		"HS256 with RSA DER":        {request{auth: bearer(e.token("alice", nil, withSecret("HS256", der)))}, 401, "invalid_token"},
		"unconfigured issuer":       {request{auth: bearer(e.token("alice", map[string]any{"iss": "https://evil.example.com"}))}, 401, "invalid_token"},
		"wrong audience":            {request{auth: bearer(e.token("alice", map[string]any{"aud": "https://other.example.com/mcp"}))}, 401, "invalid_token"},
		"expired":                   {request{auth: bearer(e.token("alice", map[string]any{"exp": now - 3600}))}, 401, "invalid_token"},
		"nbf in the future":         {request{auth: bearer(e.token("alice", map[string]any{"nbf": now + 3600}))}, 401, "invalid_token"},
		"iat in the future":         {request{auth: bearer(e.token("alice", map[string]any{"iat": now + 3600}))}, 401, "invalid_token"},
		"unknown kid":               {request{auth: bearer(e.token("alice", nil, withKid("nope")))}, 401, "invalid_token"},
		"tampered payload":          {request{auth: bearer(tamper(t, valid, map[string]any{"sub": "carol"}))}, 401, "invalid_token"},
		"evil Origin":               {request{auth: bearer(valid), origin: "http://evil.example.com"}, 403, noChallenge},
		"null Origin":               {request{auth: bearer(valid), origin: "null"}, 403, noChallenge},
		"other local port Origin":   {request{auth: bearer(valid), origin: "http://localhost:1"}, 403, noChallenge},
		"non-loopback Host":         {request{auth: bearer(valid), host: "evil.example.com"}, 403, noChallenge},
		"rebinding Host and Origin": {request{auth: bearer(valid), host: "evil.example.com", origin: "http://evil.example.com"}, 403, noChallenge},
		"loopback-looking Host":     {request{auth: bearer(valid), host: "127.0.0.1.evil.example.com:" + strings.Split(self, ":")[1]}, 403, noChallenge},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := ed.calls.Load()
			resp, body := ed.do(t, tc.rq)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if ed.calls.Load() != before {
				t.Error("the next handler was called")
			}
			params := challengeParams(t, resp)
			if tc.code == noChallenge {
				if params != nil || !strings.Contains(body, `"jsonrpc":"2.0"`) {
					t.Errorf("origin refusal: challenge %v, body %q", params, body)
				}
				return
			}
			if params["error"] != tc.code {
				t.Errorf("error = %q, want %q (%v)", params["error"], tc.code, params)
			}
			if params["resource_metadata"] != testMetadataURL || params["scope"] != "mcp:tools" {
				t.Errorf("challenge params = %v, want resource_metadata and scope=mcp:tools (no offline_access)", params)
			}
			if len(valid) > 0 && (strings.Contains(body, valid) || strings.Contains(resp.Header.Get("WWW-Authenticate"), valid[:20])) {
				t.Error("response echoes the token")
			}
		})
	}
	if strings.Contains(e.logs.String(), valid) {
		t.Error("a token was logged")
	}
}

func TestEdgeAccepts(t *testing.T) {
	e := newTestEnv(t, nil)
	ed := newEdge(t, e)
	tok := e.token("alice", nil)
	port := strings.Split(ed.srv.Listener.Addr().String(), ":")[1]
	for name, rq := range map[string]request{
		"no Origin":               {auth: []string{"Bearer " + tok}},
		"lower-case scheme":       {auth: []string{"bearer " + tok}},
		"several spaces":          {auth: []string{"Bearer   " + tok}},
		"own-port localhost":      {auth: []string{"Bearer " + tok}, origin: "http://localhost:" + port, host: "localhost:" + port},
		"own-port 127.0.0.1":      {auth: []string{"Bearer " + tok}, origin: "http://127.0.0.1:" + port},
		"unrelated query":         {auth: []string{"Bearer " + tok}, query: "?x=1"},
		"IPv6 loopback Host name": {auth: []string{"Bearer " + tok}, host: "[::1]:" + port},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := ed.do(t, rq)
			want := `alice|"` + e.iss.URL + `" "alice"|true`
			if resp.StatusCode != 200 || body != want {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
			}
		})
	}
	if got := e.v.Verifications(); got != 1 {
		t.Errorf("verifications = %d, want 1: the same token is verified once", got)
	}
}

// TestEdgeIdPDown: an unreachable IdP refuses every token with 401 (fail
// closed), logs the failure, and recovers when the IdP is back.
func TestEdgeIdPDown(t *testing.T) {
	e := newTestEnv(t, nil)
	ed := newEdge(t, e)
	e.iss.down.Store(true)
	rq := request{auth: []string{"Bearer " + e.token("alice", nil)}}
	resp, _ := ed.do(t, rq)
	if resp.StatusCode != 401 || challengeParams(t, resp)["error"] != "invalid_token" || ed.calls.Load() != 0 {
		t.Fatalf("with the IdP down: %d %v, calls %d; want 401 invalid_token, no call", resp.StatusCode, resp.Header, ed.calls.Load())
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "OIDC discovery failed") || !strings.Contains(logs, "identity provider unavailable") {
		t.Errorf("logs lack the IdP failure:\n%s", logs)
	}
	e.iss.down.Store(false)
	e.clock.Advance(RefreshInterval)
	if resp, body := ed.do(t, rq); resp.StatusCode != 200 {
		t.Errorf("after recovery: %d %q, want 200", resp.StatusCode, body)
	}
}

func TestWriteInsufficientScope(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	opts := MiddlewareOptions{ResourceMetadataURL: `https://mcp.example.com/.well-known/oauth-protected-resource/mcp?x="y"`}
	WriteInsufficientScope(rec, opts, []string{"notes:write", "notes:read", "offline_access", "bad\"scope", "a\r\nSet-Cookie: x=y"},
		"delete_note needs notes:write\r\nSet-Cookie: x=y \"quoted\"")
	resp := rec.Result()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("status = %d, want 403", resp.StatusCode)
	}
	h := resp.Header.Get("WWW-Authenticate")
	if strings.ContainsAny(h, "\r\n") || len(resp.Header.Values("Set-Cookie")) > 0 {
		t.Fatalf("header injection: %q", h)
	}
	params := challengeParams(t, resp)
	want := map[string]string{
		"error":             "insufficient_scope",
		"scope":             "notes:write notes:read",
		"resource_metadata": "https://mcp.example.com/.well-known/oauth-protected-resource/mcp?x=%22y%22",
		"error_description": "delete_note needs notes:writeSet-Cookie: x=y quoted",
	}
	for k, v := range want {
		if params[k] != v {
			t.Errorf("%s = %q, want %q (header %q)", k, params[k], v, h)
		}
	}
}

func TestErrorTextBounded(t *testing.T) {
	long := errors.New("discovery: 500 Internal Server Error: " + strings.Repeat("<html>", 50000))
	got := errorText(long)
	if len(got) > maxErrorText+64 || !strings.HasPrefix(got, "discovery: 500") || !strings.Contains(got, "bytes in all") {
		t.Errorf("errorText of a %d-byte error = %d bytes: %.80q…", len(long.Error()), len(got), got)
	}
	if short := errors.New("token expired"); errorText(short) != "token expired" {
		t.Errorf("errorText(short) = %q", errorText(short))
	}
}
