package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// consoleBrowser is a browser signed in to the console of a dev gateway.
type consoleBrowser struct {
	t    *testing.T
	base string
	c    *http.Client
}

// signInToConsole signs user in to the console of the dev gateway at base
// through the development provider, as a browser does.
func signInToConsole(t *testing.T, base, user string) *consoleBrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	back, err := devsignin.DevSignIn(t.Context(), c, base+"/console/servers", user)
	if err != nil {
		t.Fatalf("sign in as %s: %v", user, err)
	}
	resp, err := c.Get(back.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(loc, "/console/servers") {
		t.Fatalf("after sign-in: %d to %q, want back to /console/servers", resp.StatusCode, loc)
	}
	return &consoleBrowser{t: t, base: base, c: c}
}

func (b *consoleBrowser) do(req *http.Request) (int, http.Header, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func (b *consoleBrowser) get(path string) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodGet, b.base+path, nil)
	return b.do(req)
}

// post submits a form as the console's pages do (same origin).
func (b *consoleBrowser) post(path string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

var (
	csrfRE     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	accessRE   = regexp.MustCompile(`data-kind="([^"]+)" data-name="([^"]+)" data-shown="(true|false)"`)
	seenBobRE  = regexp.MustCompile(`<option value="([^"]+)">bob@example.com \(bob\)`)
	outcomeRE  = regexp.MustCompile(`Outcome: <span class="[a-z]+">([^<]+)</span>`)
	consoleCSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

func firstMatch(t *testing.T, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s in the page:\n%s", re, page)
	}
	return html.UnescapeString(m[1])
}

// TestDevConsole runs the console of `mcpgate dev` as the security team
// meets it: carol (admin) signs in and opens every page; bob's catalog in
// the access explorer is what bob's MCP client is shown; bob's denied call
// is on the Decisions page; a what-if and a revocation need the form's
// CSRF token; mallory is refused every page with the policy's reasons.
func TestDevConsole(t *testing.T) {
	t.Parallel()
	r := start(t, newTestEnv(nil), "dev", "--addr", "127.0.0.1:0")
	base := r.baseURL()
	code, token, stderr := runCLI(t, nil, "dev", "token", "--addr", r.addr.String(), "bob")
	if code != exitOK {
		t.Fatalf("dev token: %s", stderr)
	}
	bob := connect(t, base+"/mcp", strings.TrimSpace(token))
	bobTools := toolNames(t, bob)
	if _, err := bob.CallTool(t.Context(), &mcp.CallToolParams{Name: "notes__write_note", Arguments: map[string]any{"id": "x", "text": "y"}}); err == nil {
		t.Fatal("bob (hr) wrote a note")
	}
	alice, _ := connectDevCalendar(t, r, "alice")
	// bob grants an OAuth client of his: the authorization server's consent.
	oauth, err := devsignin.DevOAuthHandler(browser(t), "bob", "bob's client", new(atomic.Int32))
	if err != nil {
		t.Fatal(err)
	}
	connectOAuth(t, base+"/mcp", oauth)
	carol := signInToConsole(t, base, "carol")

	t.Run("servers", func(t *testing.T) {
		status, h, page := carol.get("/console/servers")
		if status != http.StatusOK || h.Get("Content-Security-Policy") != consoleCSP || h.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("servers: %d, CSP %q, X-Frame-Options %q", status, h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"))
		}
		for _, s := range []string{`href="/console/servers/notes"`, `href="/console/servers/hr"`, `href="/console/servers/calendar"`, ">oauth<"} {
			if !strings.Contains(page, s) {
				t.Errorf("servers page lacks %s", s)
			}
		}
		status, _, page = carol.get("/console/servers/notes")
		if status != http.StatusOK || !strings.Contains(page, "<code>notes__write_note</code>") || !strings.Contains(page, "upstream: <code>write_note</code>") {
			t.Errorf("notes page: %d\n%s", status, page)
		}
		if status, _, _ = carol.get("/console/servers/nope"); status != http.StatusNotFound {
			t.Errorf("an unknown server: %d, want 404", status)
		}
	})

	t.Run("explorer", func(t *testing.T) {
		status, _, page := carol.get("/console/explorer")
		if status != http.StatusOK {
			t.Fatalf("explorer: %d", status)
		}
		key := firstMatch(t, seenBobRE, page)
		status, _, page = carol.get("/console/explorer?" + url.Values{"seen": {key}}.Encode())
		if status != http.StatusOK {
			t.Fatalf("explorer for bob: %d", status)
		}
		var shown, hidden []string
		for _, m := range accessRE.FindAllStringSubmatch(page, -1) {
			if m[1] != "tool" {
				continue
			}
			if m[3] == "true" {
				shown = append(shown, html.UnescapeString(m[2]))
			} else {
				hidden = append(hidden, m[2])
			}
		}
		slices.Sort(shown)
		slices.Sort(bobTools)
		if !slices.Equal(shown, bobTools) || !slices.Contains(hidden, "notes__write_note") {
			t.Errorf("the explorer shows bob the tools %v and hides %v; bob's client lists %v", shown, hidden, bobTools)
		}

		whatIf := url.Values{"seen": {key}, "method": {"tools/call"}, "target": {"notes__write_note"}, "arguments": {`{"id": "x"}`}}
		if status, _, _ := carol.post("/console/explorer", whatIf); status != http.StatusForbidden {
			t.Errorf("what if without the CSRF token: %d, want 403", status)
		}
		whatIf.Set("csrf", firstMatch(t, csrfRE, page))
		status, _, page = carol.post("/console/explorer", whatIf)
		if got := firstMatch(t, outcomeRE, page); status != http.StatusOK || got != "not found" {
			t.Errorf("what if bob writes a note: %d %q, want not found (bob's lists do not show it)", status, got)
		}
		whatIf.Set("target", "notes__read_note")
		status, _, page = carol.post("/console/explorer", whatIf)
		if got := firstMatch(t, outcomeRE, page); status != http.StatusOK || got != "allowed" || !strings.Contains(page, "group hr grants tool notes__read_note") {
			t.Errorf("what if bob reads a note: %d %q\n%s", status, got, page)
		}
		whatIf.Set("arguments", "[1]")
		if status, _, page = carol.post("/console/explorer", whatIf); status != http.StatusBadRequest || !strings.Contains(page, "must be a JSON object") {
			t.Errorf("what if with arguments [1]: %d", status)
		}
		if status, _, _ = carol.get("/console/explorer?groups=" + strings.Repeat("g,", 60)); status != http.StatusBadRequest {
			t.Errorf("61 groups: %d, want 400", status)
		}
		status, _, page = carol.get("/console/explorer/matrix?groups=hr,admin,nobody")
		if status != http.StatusOK || !strings.Contains(page, `<th scope="row">admin</th>`) || !strings.Contains(page, "level-all") || !strings.Contains(page, "level-none") {
			t.Errorf("matrix: %d\n%s", status, page)
		}
	})

	t.Run("decisions", func(t *testing.T) {
		status, _, page := carol.get("/console/decisions?user=bob&outcome=denied")
		if status != http.StatusOK || !strings.Contains(page, "<code>notes__write_note</code>") || !strings.Contains(page, `<svg role="img"`) {
			t.Errorf("bob's denied decisions: %d\n%s", status, page)
		}
		if strings.Contains(page, `<span class="yes">allowed</span></td>`) {
			t.Error("the filter outcome=denied shows an allowed decision")
		}
	})

	t.Run("policy", func(t *testing.T) {
		status, _, page := carol.get("/console/policy")
		if status != http.StatusOK || !strings.Contains(page, "modules") || !strings.Contains(page, `<a href="/console/policy?sub=alice">alice@example.com (alice), groups: engineering</a>`) {
			t.Fatalf("policy: %d\n%s", status, page)
		}
		status, _, page = carol.get("/console/policy?sub=alice")
		if status != http.StatusOK || !strings.Contains(page, `<th scope="row">calendar</th>`) || !strings.Contains(page, `id="grants"`) {
			t.Fatalf("alice on the policy page: %d\n%s", status, page)
		}
		revoke := url.Values{"sub": {"alice"}, "kind": {"connection"}, "target": {"calendar"}}
		if status, _, _ := carol.post("/console/policy/revoke", revoke); status != http.StatusForbidden {
			t.Errorf("revoke without the CSRF token: %d, want 403", status)
		}
		revoke.Set("csrf", firstMatch(t, csrfRE, page))
		status, h, _ := carol.post("/console/policy/revoke", revoke)
		if status != http.StatusSeeOther || h.Get("Location") != "/console/policy?sub=alice" {
			t.Fatalf("revoke alice's calendar connection: %d to %q", status, h.Get("Location"))
		}
		if _, _, page = carol.get("/console/policy?sub=alice"); !strings.Contains(page, "The connection was revoked.") || strings.Contains(page, `<th scope="row">calendar</th>`) {
			t.Errorf("after the revocation:\n%s", page)
		}
		// The flash is shown once, and a link cannot make one up.
		if _, _, page = carol.get("/console/policy?sub=alice&revoked=grant"); strings.Contains(page, "was revoked") {
			t.Errorf("a flash without a revocation:\n%s", page)
		}
		_, err := alice.CallTool(t.Context(), &mcp.CallToolParams{Name: "calendar__list_events", Arguments: map[string]any{}})
		var rpcErr *jsonrpc.Error
		if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeURLElicitationRequired {
			t.Errorf("alice's calendar call after the revocation: %v, want -32042 (connect again)", err)
		}
		carol.post("/console/policy/revoke", revoke)
		if _, _, page = carol.get("/console/policy?sub=alice"); !strings.Contains(page, "There was nothing to revoke") {
			t.Errorf("revoking it again: want nothing to revoke\n%s", page)
		}
		status, _, page = carol.get("/console/policy?sub=bob")
		if status != http.StatusOK || !strings.Contains(page, "bob&#39;s client") {
			t.Fatalf("bob's grants: %d\n%s", status, page)
		}
		clientID := firstMatch(t, regexp.MustCompile(`name="kind" value="grant"><input type="hidden" name="target" value="([^"]+)"`), page)
		grant := url.Values{"csrf": {revoke.Get("csrf")}, "sub": {"bob"}, "kind": {"grant"}, "target": {clientID}}
		if status, h, _ = carol.post("/console/policy/revoke", grant); status != http.StatusSeeOther || h.Get("Location") != "/console/policy?sub=bob" {
			t.Fatalf("revoke bob's grant: %d to %q", status, h.Get("Location"))
		}
		if _, _, page = carol.get("/console/policy?sub=bob"); strings.Contains(page, "bob&#39;s client") {
			t.Errorf("bob's grant is still listed after its revocation")
		}
		nope := url.Values{"csrf": {revoke.Get("csrf")}, "sub": {"alice"}, "kind": {"connection"}, "target": {"nope"}}
		if status, _, page := carol.post("/console/policy/revoke", nope); status != http.StatusBadRequest || !strings.Contains(page, "no server nope") {
			t.Errorf("revoke a connection to an unknown server: %d", status)
		}
		revoke.Set("kind", "everything")
		if status, _, _ := carol.post("/console/policy/revoke", revoke); status != http.StatusBadRequest {
			t.Errorf("revoke of an unknown kind: %d, want 400", status)
		}
	})

	t.Run("mallory", func(t *testing.T) {
		mallory := signInToConsole(t, base, "mallory")
		for _, p := range []string{"/console/servers", "/console/servers/notes", "/console/explorer", "/console/explorer/matrix", "/console/decisions", "/console/policy"} {
			status, _, page := mallory.get(p)
			if status != http.StatusForbidden || !strings.Contains(page, "is in none of the groups that may use the console: admin") || strings.Contains(page, "notes__") {
				t.Errorf("mallory on %s: %d\n%s", p, status, page)
			}
		}
		status, _, _ := mallory.post("/console/policy/revoke", url.Values{"sub": {"alice"}, "kind": {"connection"}, "target": {"calendar"}})
		if status != http.StatusForbidden {
			t.Errorf("mallory revokes: %d, want 403", status)
		}
	})

	t.Run("anonymous", func(t *testing.T) {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(base + "/console/decisions")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin?next=") {
			t.Errorf("anonymous: %d to %q, want sign-in", resp.StatusCode, loc)
		}
	})
	// The revocation's decision names the operator, the employee and the
	// server as the policy sees it (labels and all).
	waitFor(t, "the revocation's decision in the log", func() bool {
		return strings.Contains(r.err.String(), `"method":"console/revoke","target":"","server":"calendar","allow":true`)
	})
	if log := r.err.String(); !strings.Contains(log, `"employee":{"sub":"alice"}`) || !strings.Contains(log, `"server":{"labels":{"env":"demo"},"name":"calendar"}`) {
		t.Errorf("the revocation's input lacks the employee or the server's labels:\n%s", log)
	}
	if log := r.err.String(); !strings.Contains(log, "console: revoked") ||
		!strings.Contains(log, `msg="authserver: consent revoked" by="operator carol in the console"`) {
		t.Errorf("the console's decisions and the revocation's audit line are not in the log:\n%s", log)
	}
}

// TestServeConsoleListener serves the console on console.listen_address,
// with its own sign-in at console.public_url: carol signs in there and is
// allowed by the organisation's policy data (console.groups), the main
// listener serves no console, and a browser session of the console
// listener is no session of the main one's pages.
func TestServeConsoleListener(t *testing.T) {
	t.Parallel()
	ln := boundListener(t)
	adminAddr := boundListener(t)
	admin := "http://" + adminAddr.Addr().String()
	adminAddr.Close() // mcpgate binds it itself
	idpLn := boundListener(t)
	idp, err := devidp.New(devidp.Options{Issuer: "http://" + idpLn.Addr().String() + "/idp", Audience: "http://" + ln.Addr().String() + "/mcp",
		Clients: []devidp.StaticClient{{ID: "console", Secret: "console-secret",
			RedirectURIs: []string{admin + "/signin/callback", "http://" + ln.Addr().String() + "/signin/callback"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.StripPrefix("/idp", idp.Handler())}
	go srv.Serve(idpLn)
	t.Cleanup(func() { srv.Close() })

	dir := t.TempDir()
	data, err := os.ReadFile("../../rego/data.json")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "data.json", strings.Replace(string(data), `"console": {"groups": ["admin"]`, `"console": {"groups": ["admin", "security"]`, 1))
	raw, err := os.ReadFile(demoConfigPolicy(t, ln.Addr().String(), idp, fmt.Sprintf("{dir: %q, library: builtin, decision_log: stderr}", dir)))
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`session_key_file: %s
store: {path: %s/store.db}
web_sign_in: {enabled: true, client_id: console, client_secret: {value_from_file: %s}}
console: {enabled: true, listen_address: %q, public_url: %q, recent_decisions: 100, trace_url: "https://traces.example/t/{trace_id}"}
`, writeFile(t, dir, "session.keys", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), dir,
		writeFile(t, dir, "web-secret", "console-secret"), adminAddr.Addr().String(), admin)
	te := newTestEnv(nil)
	te.listen = func(context.Context, string) (net.Listener, error) { return ln, nil }
	r := start(t, te, "serve", "--config", writeFile(t, dir, "mcpgate.yaml", string(raw)+extra))
	checkReady(t, r.baseURL())

	carol := signInToConsole(t, admin, "carol")
	for _, p := range []string{"/console/servers", "/console/explorer", "/console/decisions", "/console/policy"} {
		if status, _, page := carol.get(p); status != http.StatusOK || !strings.Contains(page, "carol@example.com") {
			t.Errorf("carol on the console listener's %s: %d", p, status)
		}
	}
	if status, _, page := carol.get("/console/decisions"); status != http.StatusOK || !strings.Contains(page, "the last 100;") {
		t.Errorf("decisions: %d\n%s", status, page)
	}
	resp, err := http.Get(r.baseURL() + "/console/servers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the main listener's /console/servers: %d, want 404 (the console has its own listener)", resp.StatusCode)
	}
	// One browser signed in on both listeners of one host (cookies are not
	// scoped by port) keeps both sessions: each listener names its own.
	both := signInToConsole(t, admin, "carol")
	back, err := devsignin.DevSignIn(t.Context(), both.c, r.baseURL()+"/signin", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := both.do(mustRequest(t, back.String())); status != http.StatusSeeOther {
		t.Fatalf("sign-in on the main listener: %d", status)
	}
	u, _ := url.Parse(admin)
	var names []string
	for _, c := range both.c.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	if !slices.Contains(names, "mcpgate-session") || !slices.Contains(names, "mcpgate-console-session") {
		t.Errorf("cookies after signing in on both listeners: %v", names)
	}
	if status, _, _ := both.get("/console/servers"); status != http.StatusOK {
		t.Errorf("the console after signing in on the main listener too: %d, want its session kept", status)
	}
	mallory := signInToConsole(t, admin, "mallory")
	spoofed := mustRequest(t, admin+"/console/servers")
	spoofed.Header.Set("Mcpgate-Client-Address", "10.9.8.7")
	if status, _, page := mallory.do(spoofed); status != http.StatusForbidden || !strings.Contains(page, "admin, security") {
		t.Errorf("mallory: %d\n%s", status, page)
	}
	// The console's decisions have the client's address as every phase
	// has it: the peer's IP, not a value the client sent.
	waitFor(t, "mallory's console decision in the log", func() bool { return strings.Contains(r.err.String(), `"user_sub":"mallory","phase":"console"`) })
	if log := r.err.String(); !strings.Contains(log, `"remote_addr":"127.0.0.1"`) || strings.Contains(log, "10.9.8.7") {
		t.Errorf("the console's decisions do not have the client's address:\n%s", log)
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
