package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestDevCalendarConnect runs the calendar of `mcpgate dev` as an employee
// meets it: the first call answers -32042 with a connect link; in a
// browser, the employee signs in to the gateway (web sign-in through the
// development provider), is sent to the calendar's own authorization
// server (discovered from its metadata, the gateway registered there),
// signs in there, and comes back connected; the retry lists their own
// events. The calendar never sees the gateway's token.
func TestDevCalendarConnect(t *testing.T) {
	t.Parallel()
	r := start(t, newTestEnv(nil), "dev", "--addr", "127.0.0.1:0")
	cs, browser := connectDevCalendar(t, r, "alice")
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "calendar__list_events", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("calendar call after connecting: %v %+v", err, res)
	}
	out, _ := json.Marshal(res.StructuredContent)
	if !strings.Contains(string(out), `"owner":"alice"`) {
		t.Errorf("list_events answered %s, want alice's own events", out)
	}

	// Her connections page lists the calendar.
	resp, err := browser.Get(r.baseURL() + "/connections")
	if err != nil {
		t.Fatal(err)
	}
	var page strings.Builder
	_, _ = io.Copy(&page, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(page.String(), "calendar") || !strings.Contains(page.String(), "calendar.read") {
		t.Errorf("connections page: %d %s", resp.StatusCode, page.String())
	}
}

// connectDevCalendar connects user's calendar on the dev gateway r as
// the employee does: the first call answers -32042 with a connect link,
// which user follows in a browser (web sign-in, then the calendar's own
// authorization server). It returns user's MCP session and browser.
func connectDevCalendar(t *testing.T, r *running, user string) (*mcp.ClientSession, *http.Client) {
	t.Helper()
	code, token, stderr := runCLI(t, nil, "dev", "token", "--addr", r.addr.String(), user)
	if code != exitOK {
		t.Fatalf("dev token: %s", stderr)
	}
	cs := connect(t, r.baseURL()+"/mcp", strings.TrimSpace(token))
	_, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "calendar__list_events", Arguments: map[string]any{}})
	link, err := devsignin.ConnectLink(err)
	if err != nil {
		t.Fatalf("first calendar call: %v", err)
	}
	if !strings.HasPrefix(link, r.baseURL()+"/connect/start?ticket=") {
		t.Fatalf("connect link %q is not the gateway's connect page", link)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// The link sends a browser without a session to web sign-in, at the
	// development provider, back to the link, and on, signed in, to the
	// calendar's own authorization server.
	back, cb, status, err := devsignin.FollowConnectLink(t.Context(), browser, link, user)
	if err != nil {
		t.Fatalf("%v; gateway log:\n%s", err, r.err.String())
	}
	if !strings.HasPrefix(back.String(), r.baseURL()+"/connect/start?ticket=") {
		t.Fatalf("after web sign-in: to %v, want back to the connect link", back)
	}
	if !strings.HasPrefix(cb.String(), r.baseURL()+"/connect/callback/calendar?") {
		t.Fatalf("the calendar's authorization server sent the browser to %s, want the gateway's callback", cb)
	}
	if status != http.StatusOK {
		t.Fatalf("callback: %d", status)
	}
	return cs, browser
}
