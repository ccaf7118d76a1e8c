package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate/authn/devidp"
)

// postMCP POSTs body to the MCP endpoint u with the Authorization header
// authz (none if empty) and returns the answer.
func postMCP(t *testing.T, u, authz, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func callBody(tool string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
}

// challenge returns the parameters of the single Bearer challenge in hdr.
func challenge(t *testing.T, hdr http.Header) map[string]string {
	t.Helper()
	chs, err := oauthex.ParseWWWAuthenticate(hdr.Values("WWW-Authenticate"))
	if err != nil || len(chs) != 1 || chs[0].Scheme != "bearer" {
		t.Fatalf("WWW-Authenticate %q: %v; want one Bearer challenge", hdr.Values("WWW-Authenticate"), err)
	}
	return chs[0].Params
}

// A token without the tool's scope is answered 403 insufficient_scope
// naming the scopes the call needs; the scope it holds works.
func TestCalendarInsufficientScope(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, nil)
	readOnly, _ := c.Token("alice", ScopeCalendarRead)
	writeOnly, _ := c.Token("alice", ScopeCalendarWrite)
	cases := map[string]struct {
		tok, body string
		want      string
	}{
		"create with read":      {readOnly, callBody("create_event"), "calendar.write"},
		"list with write":       {writeOnly, callBody("list_events"), "calendar.read"},
		"batch needs both":      {readOnly, "[" + callBody("list_events") + "," + callBody("create_event") + "]", "calendar.read calendar.write"},
		"batch hides the write": {readOnly, `[{"jsonrpc":"2.0","method":"ping","id":1},` + callBody("create_event") + "]", "calendar.write"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			status, hdr, body := postMCP(t, c.URL, "Bearer "+tc.tok, tc.body)
			if status != http.StatusForbidden {
				t.Fatalf("status %d (%s), want 403", status, body)
			}
			p := challenge(t, hdr)
			if p["error"] != "insufficient_scope" || p["scope"] != tc.want || p["resource_metadata"] != c.MetadataURL {
				t.Errorf("challenge %v; want insufficient_scope, scope %q and the metadata URL", p, tc.want)
			}
		})
	}
	cs := connectCalendar(t, &mcp.StreamableClientTransport{Endpoint: c.URL, HTTPClient: withBearer(readOnly)}, "2025-11-25")
	if got := listEvents(t, cs); got.Owner != "alice" {
		t.Errorf("list_events with calendar.read: owner %q", got.Owner)
	}
}

// Tokens that are not the calendar's own, for the calendar, are refused
// with 401 invalid_token; malformed credentials with 400 or 431.
func TestCalendarRefusesTokens(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, nil)
	other := startCalendar(t, nil)
	otherAudience, _, err := c.idp.TokenFor("alice", &devidp.TokenOptions{Audience: other.URL})
	if err != nil {
		t.Fatal(err)
	}
	otherCalendar, _ := other.Token("alice")
	good, _ := c.Token("alice")
	cases := map[string]struct {
		authz     string
		path      string
		status    int
		wantError string
	}{
		"no token":         {"", "", 401, ""},
		"other audience":   {"Bearer " + otherAudience, "", 401, "invalid_token"},
		"other issuer":     {"Bearer " + otherCalendar, "", 401, "invalid_token"},
		"not a JWT":        {"Bearer abc.def.ghi", "", 401, "invalid_token"},
		"tampered":         {"Bearer " + good[:len(good)-4] + "AAAA", "", 401, "invalid_token"},
		"basic scheme":     {"Basic YWxpY2U6cHc=", "", 400, "invalid_request"},
		"two tokens":       {"Bearer a b", "", 400, "invalid_request"},
		"token in query":   {"", "?access_token=" + url.QueryEscape(good), 400, "invalid_request"},
		"huge header":      {"Bearer " + strings.Repeat("a", 20<<10), "", 431, "invalid_request"},
		"control in token": {"Bearer a\x01b", "", 401, "invalid_token"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, c.URL+tc.path, strings.NewReader(callBody("list_events")))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tc.authz != "" {
				req.Header["Authorization"] = []string{tc.authz}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if name == "control in token" {
					return // the client refuses to send it: nothing reached the server
				}
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if p := challenge(t, resp.Header); p["error"] != tc.wantError {
				t.Errorf("challenge %v, want error %q", p, tc.wantError)
			}
		})
	}
}

// A body the gate cannot read unambiguously, or one too large, is refused
// before any token check; GET and anonymous discovery need no token.
func TestCalendarHostileBodies(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, nil)
	tok, _ := c.Token("alice")
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	cases := map[string]struct {
		body   string
		status int
	}{
		"oversized":           {`{"jsonrpc":"2.0","method":"ping","id":1,"pad":"` + strings.Repeat("x", maxCalendarBody) + `"}`, 413},
		"duplicate method":    {`{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"create_event"}}`, 400},
		"duplicate tool name": {`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_events","name":"create_event"}}`, 400},
		"not JSON":            {`{"jsonrpc":`, 400},
		"trailing data":       {`{"jsonrpc":"2.0","method":"ping","id":1} {}`, 400},
		"empty batch":         {`[]`, 400},
		"batch of numbers":    {`[1,2]`, 400},
		"deep nesting":        {deep, 400},
		"params not object":   {`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["create_event"]}`, 400},
		"name not string":     {`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":{"x":"create_event"}}}`, 400},
		"method not string":   {`{"jsonrpc":"2.0","id":1,"method":7}`, 400},
		"empty body":          {``, 400},
	}
	for name, tc := range cases {
		for _, authz := range []string{"", "Bearer " + tok} {
			status, _, body := postMCP(t, c.URL, authz, tc.body)
			if status != tc.status {
				t.Errorf("%s (token %t): status %d (%.200s), want %d", name, authz != "", status, body, tc.status)
			}
		}
	}
	// Anything but discovery needs a token, even hidden in a batch.
	for name, body := range map[string]string{
		"batched call":   `[{"jsonrpc":"2.0","method":"ping","id":1},` + callBody("list_events") + `]`,
		"unknown tool":   callBody("delete_everything"),
		"other method":   `{"jsonrpc":"2.0","id":1,"method":"resources/list"}`,
		"response":       `{"jsonrpc":"2.0","id":1,"result":{}}`,
		"cased method":   `{"jsonrpc":"2.0","id":1,"Method":"tools/list"}`,
		"method is null": `{"jsonrpc":"2.0","id":1,"method":null}`,
	} {
		if status, _, _ := postMCP(t, c.URL, "", body); status != http.StatusUnauthorized {
			t.Errorf("%s without a token: status %d, want 401", name, status)
		}
	}
}

// With RequireToken even discovery needs a token.
func TestCalendarRequireToken(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, &CalendarOptions{RequireToken: true})
	if _, err := newClient(nil).Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: c.URL}, eras()["2025-11-25"]); err == nil {
		t.Fatal("anonymous connect succeeded, want a refusal")
	}
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`,
	} {
		if status, hdr, _ := postMCP(t, c.URL, "", body); status != http.StatusUnauthorized || challenge(t, hdr)["resource_metadata"] != c.MetadataURL {
			t.Errorf("%s: status %d, want 401 with the metadata URL", body, status)
		}
	}
	tok, _ := c.Token("bob")
	cs := connectCalendar(t, &mcp.StreamableClientTransport{Endpoint: c.URL, HTTPClient: withBearer(tok)}, "2026-07-28")
	if got := listEvents(t, cs); got.Owner != "bob" {
		t.Errorf("owner %q, want bob", got.Owner)
	}
}

// A token sent with a discovery request is still verified: a bad one is
// refused rather than ignored.
func TestCalendarVerifiesTokenOnDiscovery(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, nil)
	status, hdr, _ := postMCP(t, c.URL, "Bearer not-a-token", `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if status != http.StatusUnauthorized || challenge(t, hdr)["error"] != "invalid_token" {
		t.Errorf("ping with a bad token: status %d, want 401 invalid_token", status)
	}
	if got := c.SeenAuthorization(); !slices.Equal(got, []string{"Bearer not-a-token"}) {
		t.Errorf("SeenAuthorization = %q", got)
	}
}

// The authorization server mounted under /auth refuses hostile requests
// cleanly (its own tests in authn/devidp cover the rest).
func TestCalendarAuthorizationServerRefusals(t *testing.T) {
	t.Parallel()
	c := startCalendar(t, nil)
	post := func(path, contentType, body string) (int, string) {
		resp, err := http.Post(c.Issuer+path, contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, e.Error
	}
	form := "application/x-www-form-urlencoded"
	cases := map[string]struct {
		path, contentType, body string
		status                  int
		wantError               string
	}{
		"oversized registration": {"/register", "application/json", `{"redirect_uris":["` + strings.Repeat("x", 70<<10) + `"]}`, 413, "invalid_request"},
		"registration not JSON":  {"/register", "application/json", `redirect_uris=x`, 400, "invalid_client_metadata"},
		"custom scheme redirect": {"/register", "application/json", `{"redirect_uris":["javascript:alert(1)"]}`, 400, "invalid_redirect_uri"},
		"token, other resource":  {"/token", form, "grant_type=authorization_code&code=x&client_id=x&code_verifier=" + strings.Repeat("a", 43) + "&resource=" + url.QueryEscape("http://127.0.0.1:1/mcp"), 400, "invalid_target"},
		"token, unknown grant":   {"/token", form, "grant_type=password&username=alice&password=x", 400, "unsupported_grant_type"},
		"refresh, unknown token": {"/token", form, "grant_type=refresh_token&refresh_token=x&client_id=x", 401, "invalid_client"},
	}
	for name, tc := range cases {
		if status, e := post(tc.path, tc.contentType, tc.body); status != tc.status || e != tc.wantError {
			t.Errorf("%s: status %d error %q, want %d %q", name, status, e, tc.status, tc.wantError)
		}
	}
}

// FuzzNeedOf checks the gate's reading of a body against a plain decoding
// with exact keys, as the SDK decodes: whenever the gate accepts a body
// whose message calls a calendar tool, it asks for that tool's scope and a
// token.
func FuzzNeedOf(f *testing.F) {
	for _, s := range []string{
		callBody("create_event"), callBody("list_events"), `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
		`[{"method":"ping"},` + callBody("create_event") + `]`, `{"method":"tools/call","params":{"name":"create_event","name":"x"}}`,
		`{"Method":"tools/call","method":"ping"}`, `[]`, `{"method":"notifications/initialized"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := needOf(body)
		if err != nil {
			return
		}
		var msgs []map[string]json.RawMessage
		if json.Unmarshal(body, &msgs) != nil {
			var one map[string]json.RawMessage
			if json.Unmarshal(body, &one) != nil {
				t.Fatalf("needOf accepted %q, which is no JSON object or array of objects", body)
			}
			msgs = append(msgs, one)
		}
		for _, m := range msgs {
			var method string
			_ = json.Unmarshal(m["method"], &method)
			var params struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(m["params"], &params)
			if method == "tools/call" && n.anonymous {
				t.Fatalf("%q: a tools/call passes anonymously", body)
			}
			if s, ok := toolScopes[params.Name]; ok && method == "tools/call" && !slices.Contains(n.scopes, s) {
				t.Fatalf("%q: calls %s without asking for %s (need %+v)", body, params.Name, s, n)
			}
		}
	})
}

// The tools themselves refuse a call that carries no verified token, should
// one ever get past the gate.
func TestCalendarToolsNeedCaller(t *testing.T) {
	t.Parallel()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := NewCalendar().Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := newClient(nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	for tool, args := range map[string]map[string]any{
		"list_events":  {},
		"create_event": {"title": "x", "start": "2026-12-10T09:00:00Z", "end": "2026-12-10T10:00:00Z"},
	} {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			t.Fatal(err)
		}
		if !res.IsError || !strings.Contains(firstText(t, res), "no verified caller") {
			t.Errorf("%s without a token: error=%t %q; want a tool error", tool, res.IsError, firstText(t, res))
		}
	}
}
