package devidp

import (
	"bytes"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

func TestRegisterPublicClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	status, out := h.register(t, map[string]any{
		"redirect_uris": []string{"http://127.0.0.1:33418/", "https://vscode.dev/redirect"},
		"client_name":   "VS Code",
		"grant_types":   []string{"authorization_code", "refresh_token"},
		"unknown_field": "ignored",
	})
	if status != http.StatusCreated {
		t.Fatalf("status %d: %v", status, out)
	}
	id, _ := out["client_id"].(string)
	issuedAt, _ := out["client_id_issued_at"].(float64)
	if id == "" || int64(issuedAt) != h.clock.now().Unix() {
		t.Errorf("client_id %q, client_id_issued_at %v", id, out["client_id_issued_at"])
	}
	want := map[string]any{
		"redirect_uris":              []any{"http://127.0.0.1:33418/", "https://vscode.dev/redirect"},
		"client_name":                "VS Code",
		"token_endpoint_auth_method": "none",
		"grant_types":                []any{"authorization_code"},
		"response_types":             []any{"code"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, out[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	if _, ok := out["client_secret"]; ok {
		t.Error("public client got a secret")
	}
}

// go-sdk's own registration client accepts the response.
func TestRegisterWithGoSDK(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp, err := oauthex.RegisterClient(t.Context(), h.issuer+"/register", &oauthex.ClientRegistrationMetadata{
		RedirectURIs:            []string{"http://localhost:8765/callback"},
		TokenEndpointAuthMethod: "client_secret_post",
		ApplicationType:         "native",
	}, nil)
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	if resp.ClientID == "" || resp.ClientSecret == "" || resp.TokenEndpointAuthMethod != "client_secret_post" || resp.ApplicationType != "native" {
		t.Errorf("response = %+v", resp)
	}
}

func TestRegisterErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := map[string]struct {
		md        map[string]any
		wantError string
	}{
		"no redirect_uris":       {map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
		"empty redirect_uris":    {map[string]any{"redirect_uris": []string{}}, "invalid_redirect_uri"},
		"non-loopback http":      {map[string]any{"redirect_uris": []string{"http://example.com/cb"}}, "invalid_redirect_uri"},
		"private-address http":   {map[string]any{"redirect_uris": []string{"http://192.168.1.2/cb"}}, "invalid_redirect_uri"},
		"custom scheme":          {map[string]any{"redirect_uris": []string{"cursor://anysphere/cb"}}, "invalid_redirect_uri"},
		"javascript scheme":      {map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}, "invalid_redirect_uri"},
		"relative":               {map[string]any{"redirect_uris": []string{"/cb"}}, "invalid_redirect_uri"},
		"fragment":               {map[string]any{"redirect_uris": []string{"https://app.example/cb#x"}}, "invalid_redirect_uri"},
		"one bad of two":         {map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb", "http://10.0.0.1/cb"}}, "invalid_redirect_uri"},
		"private_key_jwt":        {map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
		"client_credentials":     {map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}, "grant_types": []string{"client_credentials"}}, "invalid_client_metadata"},
		"implicit response type": {map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}, "response_types": []string{"token"}}, "invalid_client_metadata"},
		"redirect_uris a string": {map[string]any{"redirect_uris": "http://127.0.0.1/cb"}, "invalid_client_metadata"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			status, out := h.register(t, tc.md)
			if status != http.StatusBadRequest || out["error"] != tc.wantError {
				t.Errorf("got %d %v, want 400 %s", status, out, tc.wantError)
			}
		})
	}
}

func TestRegisterBodyLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := `{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	req, _ := http.NewRequest(http.MethodPost, h.issuer+"/register", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	status, _, out := h.do(t, req)
	if status != http.StatusRequestEntityTooLarge || oauthErr(t, out) != "invalid_request" {
		t.Errorf("got %d %s, want 413 invalid_request", status, out)
	}
}

// Registrations evict the oldest registered client, never a static one, and
// cannot shadow a static client's ID.
func TestClientStoreEvictsOldest(t *testing.T) {
	t.Parallel()
	s := newClientStore([]StaticClient{{ID: "static", Secret: "x", RedirectURIs: []string{"https://rp.example/cb"}}}, 2)
	for _, id := range []string{"a", "b"} {
		if ev := s.add(&client{id: id}); ev != "" {
			t.Fatalf("add %s evicted %s", id, ev)
		}
	}
	if ev := s.add(&client{id: "c"}); ev != "a" {
		t.Errorf("evicted %q, want a", ev)
	}
	if s.get("a") != nil || s.get("b") == nil || s.get("c") == nil {
		t.Error("store does not hold exactly the two newest clients")
	}
	s.add(&client{id: "static"})
	if c := s.get("static"); c == nil || !c.static {
		t.Errorf("static client = %+v after a registration under its ID", c)
	}
}

func TestCodeStoreBounds(t *testing.T) {
	t.Parallel()
	s := newCodeStore(1)
	now := time.Now()
	if err := s.put("one", &authCode{expires: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.put("two", &authCode{expires: now.Add(time.Minute)}, now); err != errTooManyCodes {
		t.Errorf("put beyond the bound: err = %v, want errTooManyCodes", err)
	}
	later := now.Add(2 * time.Minute)
	if err := s.put("three", &authCode{expires: later.Add(time.Minute)}, later); err != nil {
		t.Errorf("put after expiry pruned nothing: %v", err)
	}
}

func FuzzCheckRedirectURI(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:1/cb", "https://x.example/cb", "http://[::1]/", "http://localhost.evil.com/", "cursor://x", "http://127.0.0.1@evil.com/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if checkRedirectURI(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted unparsable %q", raw)
		}
		host := strings.Trim(u.Hostname(), "[]")
		ip, ipErr := netip.ParseAddr(host)
		loopback := host == "localhost" || (ipErr == nil && ip.Unmap().IsLoopback())
		if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
			t.Fatalf("accepted %q: scheme %q host %q", raw, u.Scheme, host)
		}
		if u.Fragment != "" || u.User != nil {
			t.Fatalf("accepted %q with fragment or user info", raw)
		}
	})
}
