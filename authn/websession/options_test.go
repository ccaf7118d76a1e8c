package websession

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
)

func validOptions() Options {
	return Options{Issuer: "https://login.example.com", ClientID: "gw", BaseURL: "https://mcp.example.com", Keys: [][]byte{testKey(1)}}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		tweak func(*Options)
		want  string
	}{
		"no issuer":          {func(o *Options) { o.Issuer = "" }, "issuer: required"},
		"http issuer":        {func(o *Options) { o.Issuer = "http://login.example.com" }, "must be https"},
		"issuer with query":  {func(o *Options) { o.Issuer = "https://login.example.com?x=1" }, "without query"},
		"no client":          {func(o *Options) { o.ClientID = "" }, "client id: required"},
		"no base URL":        {func(o *Options) { o.BaseURL = "" }, "base URL: required"},
		"relative base URL":  {func(o *Options) { o.BaseURL = "/gw" }, "base URL"},
		"no keys":            {func(o *Options) { o.Keys = nil }, "keys: at least one"},
		"short key":          {func(o *Options) { o.Keys = [][]byte{testKey(1)[:16]} }, "is 16 bytes"},
		"no openid":          {func(o *Options) { o.Scopes = []string{"email"} }, "must include openid"},
		"TTL too long":       {func(o *Options) { o.TTL = MaxTTL + time.Hour }, "ttl"},
		"negative TTL":       {func(o *Options) { o.TTL = -time.Hour }, "ttl"},
		"reserved parameter": {func(o *Options) { o.AuthParams = map[string]string{"Redirect_URI": "https://evil.example"} }, "Redirect_URI is set by the flow"},
		"foreign home":       {func(o *Options) { o.Home = "//evil.example" }, "home"},
		"cookie name":        {func(o *Options) { o.CookieName = "__Host-x; Path=/" }, "cookie name"},
	}
	for name, tc := range cases {
		o := validOptions()
		tc.tweak(&o)
		_, err := New(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error with %q", name, err, tc.want)
		}
	}
	if _, err := New(context.Background(), Options{}); err == nil || strings.Count(err.Error(), "\n") < 3 {
		t.Errorf("New(Options{}) = %v, want every problem at once", err)
	}
	o := validOptions()
	o.Issuer, o.BaseURL = "http://127.0.0.1:5556/dex", "http://localhost:8080"
	if _, err := New(context.Background(), o); err != nil {
		t.Errorf("http on loopback: %v", err)
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/", "/page", "/connections?server=github&x=%2F", "/a/b/c", "/%E2%9C%93"} {
		if got, ok := localPath(p); !ok || got != p {
			t.Errorf("localPath(%q) = %q, %v; want it kept", p, got, ok)
		}
	}
	for _, p := range []string{"", "page", "//evil", "/\\evil", "/%2f%2fevil", "/%5cevil", "/a\x7f", "/a b", "http://x/",
		"/a#b", "/" + strings.Repeat("a", maxNext), "/%zz"} {
		if got, ok := localPath(p); ok {
			t.Errorf("localPath(%q) = %q, accepted", p, got)
		}
	}
}

// FuzzLocalPath checks that an accepted path, resolved as a browser does
// against the gateway's URL, stays on the gateway.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "//evil", "/\\evil", "/%2F%2Fevil", "/..//evil", "/./\t/evil", "/@evil", "/:evil"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://mcp.example.com/gw/")
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := localPath(s)
		if !ok {
			return
		}
		u, err := base.Parse(p)
		if err != nil || u.Scheme != "https" || u.Host != "mcp.example.com" || u.User != nil {
			t.Errorf("localPath accepted %q, which resolves to %v (%v)", s, u, err)
		}
	})
}

// TestSignInUnavailable: an IdP that cannot be discovered refuses
// sign-in (503) rather than letting anyone in, and Require still refuses.
func TestSignInUnavailable(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	o := validOptions()
	o.Issuer, o.BaseURL = dead.URL, "http://127.0.0.1:8080"
	m, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathSignIn, nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Set-Cookie") != "" {
		t.Errorf("sign-in with the IdP down: %d, Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}
	rec = httptest.NewRecorder()
	m.Require(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/page", nil))
	if rec.Code != http.StatusSeeOther {
		t.Errorf("Require without a session: %d", rec.Code)
	}
	if _, ok := FromContext(authn.NewContext(context.Background(), &authn.Identity{Subject: "bearer"})); ok {
		t.Error("FromContext returned a bearer token's identity")
	}
}

func TestCheckAuthorizedParty(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		aud    []string
		claims map[string]any
		ok     bool
	}{
		"one audience, no azp":         {[]string{"gw"}, map[string]any{}, true},
		"azp is this client":           {[]string{"gw", "other"}, map[string]any{"azp": "gw"}, true},
		"azp is another client":        {[]string{"gw", "other"}, map[string]any{"azp": "other"}, false},
		"azp of another type":          {[]string{"gw"}, map[string]any{"azp": 1}, false},
		"several audiences and no azp": {[]string{"gw", "other"}, map[string]any{}, false},
	}
	for name, tc := range cases {
		if err := checkAuthorizedParty(tc.aud, tc.claims, "gw"); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", name, err, tc.ok)
		}
	}
}
