package authn

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOriginMiddleware(t *testing.T) {
	t.Parallel()
	allowed := []string{"https://App.Example.com", "https://tools.example.com:8443", "http://localhost:*",
		"https://*.example.com", "http://example.org:*", "null"} // the last three are invalid: ignored
	type tc struct {
		loopback bool
		host     string
		origins  []string
		want     int
	}
	tests := map[string]tc{
		"no Origin":                  {false, "mcp.example.com", nil, 200},
		"allowed":                    {false, "mcp.example.com", []string{"https://app.example.com"}, 200},
		"host case-insensitive":      {false, "mcp.example.com", []string{"https://APP.example.COM"}, 200},
		"default port folded":        {false, "mcp.example.com", []string{"https://app.example.com:443"}, 200},
		"explicit port":              {false, "mcp.example.com", []string{"https://tools.example.com:8443"}, 200},
		"wrong port":                 {false, "mcp.example.com", []string{"https://tools.example.com"}, 403},
		"wrong scheme":               {false, "mcp.example.com", []string{"http://app.example.com"}, 403},
		"evil":                       {false, "mcp.example.com", []string{"http://evil.example.com"}, 403},
		"suffix trick":               {false, "mcp.example.com", []string{"https://app.example.com.evil.net"}, 403},
		"null":                       {false, "mcp.example.com", []string{"null"}, 403},
		"two Origins":                {false, "mcp.example.com", []string{"https://app.example.com", "https://app.example.com"}, 403},
		"with a path":                {false, "mcp.example.com", []string{"https://app.example.com/x"}, 403},
		"garbage":                    {false, "mcp.example.com", []string{"::::"}, 403},
		"wildcard not on other host": {false, "mcp.example.com", []string{"http://example.org:8080"}, 403},
		"loopback wildcard":          {false, "mcp.example.com", []string{"http://localhost:6274"}, 200},
		"not own port, not loopback": {false, "localhost:8080", []string{"http://127.0.0.1:8080"}, 403},
		"loopback: own port":         {true, "localhost:8080", []string{"http://127.0.0.1:8080"}, 200},
		"loopback: own default port": {true, "localhost", []string{"http://localhost"}, 200},
		"loopback: other port":       {true, "127.0.0.1:8080", []string{"http://127.0.0.1:9999"}, 403},
		"loopback: evil Host":        {true, "evil.example.com", nil, 403},
		"loopback: empty Host":       {true, "", nil, 403},
		"loopback: IPv6":             {true, "[::1]:8080", []string{"http://[::1]:8080"}, 200},
		"loopback: 127/8":            {true, "127.1.2.3:8080", nil, 200},
		"loopback: localhost. FQDN":  {true, "localhost.:8080", nil, 403},
	}
	logs := &logBuffer{}
	mw := OriginMiddleware(allowed, false, logs.logger())
	mwLoop := OriginMiddleware(allowed, true, logs.logger())
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := mw(next)
			if tc.loopback {
				h = mwLoop(next)
			}
			req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			req.Host = tc.host
			for _, o := range tc.origins {
				req.Header.Add("Origin", o)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status = %d, want %d", rec.Code, tc.want)
			}
			if tc.want == 403 && !strings.HasPrefix(rec.Body.String(), `{"jsonrpc":"2.0","id":null,"error":{"code":-32600`) {
				t.Errorf("refusal body = %q, want a JSON-RPC error", rec.Body)
			}
		})
	}
	if n := strings.Count(logs.String(), "ignoring invalid allowed origin"); n != 6 { // 3 entries × 2 middlewares
		t.Errorf("invalid entries logged %d times, want 6:\n%s", n, logs)
	}
}

// TestOriginConformanceDNSRebinding replays the MCP conformance suite's
// dns-rebinding scenario against a loopback server with an empty allowlist.
func TestOriginConformanceDNSRebinding(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(OriginMiddleware(nil, true, (&logBuffer{}).logger())(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().String()[strings.LastIndexByte(srv.Listener.Addr().String(), ':')+1:]
	for _, step := range []struct {
		host, origin string
		want         int
	}{
		{"evil.example.com", "http://evil.example.com", 403},
		{"localhost:" + port, "http://localhost:" + port, 200},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, nil)
		req.Host = step.host
		req.Header.Set("Origin", step.origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != step.want {
			t.Errorf("Host %s, Origin %s: %d, want %d", step.host, step.origin, resp.StatusCode, step.want)
		}
	}
}
