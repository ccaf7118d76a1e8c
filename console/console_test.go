package console_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/approval"
	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/authn/websession"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/console"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/rego"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// hostile is a description no page may render as markup.
const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)>`

// consoleHarness is a console over a real gateway (one go-sdk upstream
// whose tool's description is hostile), the shipped policy library and a
// real sign-in through the development provider, on loopback.
type consoleHarness struct {
	t      *testing.T
	base   string
	engine *policy.Engine
	recent *policy.Recent
}

func newHarness(t *testing.T, traceURL string) *consoleHarness {
	t.Helper()
	return newHarnessLocked(t, traceURL, nil)
}

// newHarnessLocked is newHarness with the upstream in approval mode
// enforce against lock, when not nil.
func newHarnessLocked(t *testing.T, traceURL string, lock *approval.Lock) *consoleHarness {
	t.Helper()
	up := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "evil", Description: hostile}, func(context.Context, *mcp.CallToolRequest, map[string]any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	upstream := serve(t, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	recent := policy.NewRecent(50)
	engine := policy.NewEngine(policy.Options{Recent: recent})
	modules, data, err := rego.Library()
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.LoadModules(modules, data); err != nil {
		t.Fatal(err)
	}
	doc := "servers:\n  - {name: notes, url: '" + upstream + "/mcp', allow_insecure_http: true}\n"
	opts := &gateway.Options{Authorizer: engine}
	if lock != nil {
		doc += "approval: {lock_file: /nonexistent/mcpgate.lock.yaml, mode: enforce}\n"
		opts.Lock = &approval.Loaded{Lock: lock, Revision: "test"}
	}
	cfg, err := config.Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); gw.Close(context.Background()) })
	gw.Start(ctx)
	if err := gw.WaitSettled(t.Context()); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	idp, err := devidp.New(devidp.Options{Issuer: base + "/idp", Audience: base + "/mcp",
		Clients: []devidp.StaticClient{{ID: "console", Secret: "s", RedirectURIs: []string{base + websession.PathCallback}}}})
	if err != nil {
		t.Fatal(err)
	}
	web, err := websession.New(ctx, websession.Options{Issuer: base + "/idp", ClientID: "console", BaseURL: base,
		ClientSecret: func() (string, error) { return "s", nil }, Keys: [][]byte{make([]byte, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Options{Backend: gw, Authorizer: engine, Sessions: web, Recent: recent, TraceURL: traceURL})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/idp/", http.StripPrefix("/idp", idp.Handler()))
	for _, p := range web.Paths() {
		mux.Handle(p, web.Handler())
	}
	mux.Handle(console.Path, c.Handler())
	mux.Handle(console.Path+"/", c.Handler())
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &consoleHarness{t: t, base: base, engine: engine, recent: recent}
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// browser is a client signed in as user.
func (h *consoleHarness) browser(user string) *http.Client {
	h.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	back, err := devsignin.DevSignIn(h.t.Context(), c, h.base+"/console/servers", user)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := c.Get(back.String())
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

func (h *consoleHarness) get(c *http.Client, path string) (int, http.Header, string) {
	h.t.Helper()
	resp, err := c.Get(h.base + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func (h *consoleHarness) post(c *http.Client, path string, form url.Values) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.base)
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestNewRefusesMissingParts(t *testing.T) {
	t.Parallel()
	_, err := console.New(console.Options{TraceURL: "https://traces.example/"})
	for _, want := range []string{"backend: required", "authorizer: required", "sessions: required", "recent decisions: required", "must contain {trace_id}"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New without parts: %v, want %q", err, want)
		}
	}
}

func TestConsolePages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "https://traces.example/t/{trace_id}")
	carol := h.browser("carol")

	t.Run("hostile descriptions are text", func(t *testing.T) {
		status, _, page := h.get(carol, "/console/servers/notes")
		if status != http.StatusOK || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") || strings.Contains(page, hostile) {
			t.Errorf("notes: %d\n%s", status, page)
		}
		status, _, page = h.get(carol, "/console/explorer?sub=x&groups=admin")
		if status != http.StatusOK || !strings.Contains(page, `data-name="notes__evil" data-shown="true"`) || strings.Contains(page, "<script>alert") {
			t.Errorf("explorer: %d\n%s", status, page)
		}
	})

	t.Run("oversized and malformed input", func(t *testing.T) {
		long := strings.Repeat("x", 300)
		for path, want := range map[string]string{
			"/console/explorer?sub=" + long:                               "subject: at most 256 characters",
			"/console/explorer?groups=" + long:                            "groups: each at most 256 characters",
			"/console/explorer?groups=" + strings.Repeat("g+", 51):        "groups: at most 50",
			"/console/explorer/matrix?groups=" + strings.Repeat("g,", 51): "groups: at most 50",
			"/console/explorer?seen=" + url.QueryEscape("x#nobody"):       "no longer among the users seen",
		} {
			if status, _, page := h.get(carol, path); status != http.StatusBadRequest || !strings.Contains(page, want) {
				t.Errorf("%.60s: %d, want 400 saying %q", path, status, want)
			}
		}
		if status, _, _ := h.get(carol, "/console/decisions?user="+long); status != http.StatusOK {
			t.Errorf("a long filter: %d, want 200 (cut to its bound)", status)
		}
		if status, _, _ := h.get(carol, "/console/policy?sub="+long); status != http.StatusBadRequest {
			t.Errorf("a long subject on the policy page: %d, want 400", status)
		}
		_, _, page := h.get(carol, "/console/explorer?sub=x&groups=admin")
		csrf := strings.SplitN(strings.SplitN(page, `name="csrf" value="`, 2)[1], `"`, 2)[0]
		form := url.Values{"csrf": {csrf}, "sub": {"x"}, "groups": {"admin"}, "method": {"tools/call"}, "target": {"notes__evil"}}
		for name, change := range map[string][2]string{
			"unknown method":        {"method", "tools/delete"},
			"no target":             {"target", ""},
			"huge arguments":        {"arguments", `{"a": "` + strings.Repeat("x", 40<<10) + `"}`},
			"not an object":         {"arguments", `"x"`},
			"broken JSON":           {"arguments", `{"a": `},
			"prompt of non-strings": {"method", "prompts/get"},
		} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			f.Set(change[0], change[1])
			if name == "prompt of non-strings" {
				f.Set("arguments", `{"n": 1}`)
			}
			if status, page := h.post(carol, "/console/explorer", f); status != http.StatusBadRequest || !strings.Contains(page, `class="bad" role="alert"`) {
				t.Errorf("what if with %s: %d, want 400 with the error shown", name, status)
			}
		}
		if status, page := h.post(carol, "/console/explorer", form); status != http.StatusOK || !strings.Contains(page, "Outcome: <span class=\"yes\">allowed</span>") {
			t.Errorf("a well-formed what if: %d\n%s", status, page)
		}
	})

	t.Run("decisions link their trace", func(t *testing.T) {
		const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
		ctx := policy.WithTraceID(context.Background(), trace)
		h.engine.Decide(ctx, &policy.Input{Phase: policy.PhaseCall, Method: "tools/call", User: policy.User{Sub: "dave", Groups: []string{}},
			Server: &policy.Server{Name: "notes"}, Tool: &policy.Tool{Name: "notes__evil", Server: "notes"}})
		status, _, page := h.get(carol, "/console/decisions?trace="+trace)
		if status != http.StatusOK || !strings.Contains(page, `<a href="https://traces.example/t/`+trace+`">`) || !strings.Contains(page, "<td>dave</td>") {
			t.Errorf("decisions of a trace: %d\n%s", status, page)
		}
		if strings.Count(page, "<tr class=") != 1 {
			t.Errorf("the trace filter shows %d rows, want dave's one", strings.Count(page, "<tr class="))
		}
	})

	t.Run("paths", func(t *testing.T) {
		if status, h2, _ := h.get(carol, "/console"); status != http.StatusSeeOther || h2.Get("Location") != "/console/servers" {
			t.Errorf("/console: %d to %q", status, h2.Get("Location"))
		}
		if status, _, page := h.get(carol, "/console/static/"); status != http.StatusNotFound || strings.Contains(page, `href="console.css"`) {
			t.Errorf("/console/static/: %d, want 404, not a listing of its files", status)
		}
		if status, _, _ := h.get(carol, "/console/nothing"); status != http.StatusNotFound {
			t.Errorf("an unknown page: %d, want 404", status)
		}
		status, hdr, css := h.get(http.DefaultClient, "/console/static/console.css")
		if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/css") || !strings.Contains(css, "--accent") {
			t.Errorf("the stylesheet: %d %q", status, hdr.Get("Content-Type"))
		}
		anonymous := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if status, _, _ := h.get(anonymous, "/console/servers"); status != http.StatusSeeOther {
			t.Errorf("a page without a session: %d, want a redirect to sign-in", status)
		}
	})
}

// TestExplorerClient: the OAuth client typed in is the token's client_id
// of the identity explored; a policy that hides a tool from one client
// shows it to another.
func TestExplorerClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	if err := h.engine.LoadModules(map[string]string{"p.rego": `package mcpgate.authz
decision := {"allow": true, "reasons": ["console"]} if input.phase == "console"
decision := {"allow": input.token.client_id == "trusted", "reasons": [sprintf("client %v", [input.token.client_id])]} if input.phase != "console"`}, nil); err != nil {
		t.Fatal(err)
	}
	carol := h.browser("carol")
	for client, shown := range map[string]string{"trusted": "true", "other": "false"} {
		status, _, page := h.get(carol, "/console/explorer?sub=x&client_id="+client)
		if status != http.StatusOK || !strings.Contains(page, `data-name="notes__evil" data-shown="`+shown+`"`) || !strings.Contains(page, "<li>client "+client+"</li>") {
			t.Errorf("client %s: %d\n%s", client, status, page)
		}
	}
}

// TestFormsAreBounded: a posted body over 64 KiB, or one that is not a
// url-encoded form, is refused before sign-in and the CSRF check read it
// (a token in the X-CSRF-Token header skips reading the form there).
func TestFormsAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	carol := h.browser("carol")
	_, _, page := h.get(carol, "/console/explorer?sub=x&groups=admin")
	csrf := strings.SplitN(strings.SplitN(page, `name="csrf" value="`, 2)[1], `"`, 2)[0]
	post := func(contentType, body string) int {
		req, _ := http.NewRequest(http.MethodPost, h.base+"/console/explorer", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Origin", h.base)
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := carol.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	form := "sub=x&groups=admin&method=tools/call&target=notes__evil&arguments="
	if got := post("application/x-www-form-urlencoded", form+"{}"); got != http.StatusOK {
		t.Fatalf("a small form with the token in the header: %d", got)
	}
	if got := post("application/x-www-form-urlencoded", form+url.QueryEscape(`{"a":"`+strings.Repeat("x", 70<<10)+`"}`)); got != http.StatusRequestEntityTooLarge {
		t.Errorf("a form of 70 KiB: %d, want 413", got)
	}
	if got := post("application/x-www-form-urlencoded", "sub=%zz"); got != http.StatusBadRequest {
		t.Errorf("a malformed form: %d, want 400", got)
	}
	if got := post("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"sub\"\r\n\r\nx\r\n--x--\r\n"); got != http.StatusUnsupportedMediaType {
		t.Errorf("a multipart form: %d, want 415", got)
	}
}

// TestServerPageShowsWhatAwaitsApproval: a tool whose description changed
// since its approval is quarantined, and its server's page says so, with
// the diff against the approved definition; an approved tool the server
// no longer lists is there as removed.
func TestServerPageShowsWhatAwaitsApproval(t *testing.T) {
	t.Parallel()
	old, err := approval.NewItem(approval.KindTool, &mcp.Tool{Name: "evil", Description: "Says hello.", InputSchema: map[string]any{"type": "object"}})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := approval.NewItem(approval.KindTool, &mcp.Tool{Name: "gone", Description: "Was here.", InputSchema: map[string]any{"type": "object"}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessLocked(t, "", (&approval.Lock{}).Approve("notes", []approval.Item{old, gone}))
	status, _, page := h.get(h.browser("carol"), "/console/servers/notes")
	for _, want := range []string{
		`<tr class="quarantined">`, `approval-modified">modified</span> <strong class="bad">quarantined</strong>`,
		"<summary>Change against the approved definition</summary>", "Says hello.", "&lt;script&gt;alert(1)",
		`<code>gone</code>`, `approval-removed">removed</span>`,
	} {
		if status != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("the notes page (%d) lacks %s", status, want)
		}
	}
	if t.Failed() {
		t.Log(page)
	}
	_, _, servers := h.get(h.browser("carol"), "/console/servers")
	if !strings.Contains(servers, `enforce, <strong class="bad">1 quarantined</strong>`) {
		t.Errorf("the servers page does not count the quarantined tool:\n%s", servers)
	}
}
