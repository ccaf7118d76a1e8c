package authn

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetadataHandler(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	h := metadataHandler(testResource, []string{"https://idp.example.com/realms/corp"},
		[]string{"mcp:tools", "offline_access", "notes:read"}, logs.logger())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	resp, body := fetch(t, http.MethodGet, srv.URL, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET = %d", resp.StatusCode)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                 testResource,
		"authorization_servers":    []any{"https://idp.example.com/realms/corp"},
		"scopes_supported":         []any{"mcp:tools", "notes:read"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "mcpgate",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	wantHeaders := map[string]string{
		"Content-Type": "application/json", "Cache-Control": "max-age=3600", "Access-Control-Allow-Origin": "*",
	}
	for k, v := range wantHeaders {
		if resp.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), v)
		}
	}
	if !strings.Contains(logs.String(), "offline_access") {
		t.Error("dropping offline_access was not logged")
	}

	for method, want := range map[string]int{"HEAD": 200, "OPTIONS": 204, "POST": 405, "PUT": 405, "DELETE": 405} {
		resp, body := fetch(t, method, srv.URL, http.Header{
			"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"},
		})
		if resp.StatusCode != want {
			t.Errorf("%s = %d, want %d", method, resp.StatusCode, want)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s lacks Access-Control-Allow-Origin", method)
		}
		if method == "HEAD" && body != "" {
			t.Errorf("HEAD has a body")
		}
		if method == "OPTIONS" && !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
			t.Errorf("preflight Allow-Methods = %q", resp.Header.Get("Access-Control-Allow-Methods"))
		}
	}
}

func fetch(t *testing.T, method, url string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestMetadataPaths(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"/mcp":        {"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"},
		"/mcp/":       {"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"},
		"mcp":         {"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"},
		"/public/mcp": {"/.well-known/oauth-protected-resource/public/mcp", "/.well-known/oauth-protected-resource"},
		"/":           {"/.well-known/oauth-protected-resource"},
		"":            {"/.well-known/oauth-protected-resource"},
	} {
		if diff := cmp.Diff(want, MetadataPaths(in)); diff != "" {
			t.Errorf("MetadataPaths(%q) (-want +got):\n%s", in, diff)
		}
	}
}
