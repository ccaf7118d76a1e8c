package e2e

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/testtools"
	pw "github.com/mcpgate/mcpgate/internal/testtools/browser"
	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
)

// consoleShots are the screenshots testdata/console.mjs takes, one per
// page; with MCPGATE_UPDATE_DOCS_SCREENSHOTS=1 they are copied to
// docs/img/<name>.png, where docs/console.md shows them.
var consoleShots = []string{
	"console-servers", "console-server", "console-explorer", "console-whatif",
	"console-matrix", "console-decisions", "console-policy", "console-refused",
}

// consoleWhatIf is a tool bob (hr: notes read-only) is not shown: his
// client calls it (denied), and the what-if box is asked about it.
const consoleWhatIf = "notes__write_note"

// maxShotBytes bounds a committed screenshot: CI refuses tracked files of
// 1 MiB or more.
const maxShotBytes = 512 << 10

// consoleRow is a row of one of the console's tables, as the script reads it.
type consoleRow struct {
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Shown   string   `json:"shown"`
	Cells   []string `json:"cells"`
	Reasons []string `json:"reasons"`
}

// consoleResult is what testdata/console.mjs prints.
type consoleResult struct {
	A11y           map[string][]string `json:"a11y"`
	Shots          []string            `json:"shots"`
	SignInURL      string              `json:"signInURL"`
	SignInUsers    []string            `json:"signInUsers"`
	Landed         string              `json:"landed"`
	Servers        []string            `json:"servers"`
	ServerRows     []consoleRow        `json:"serverRows"`
	ServerCaption  string              `json:"serverCaption"`
	ServerItems    []string            `json:"serverItems"`
	TabOrder       []string            `json:"tabOrder"`
	AfterSkip      string              `json:"afterSkip"`
	SeenOptions    []string            `json:"seenOptions"`
	ExploredLabel  string              `json:"exploredLabel"`
	Access         []consoleRow        `json:"access"`
	AccessNoJS     []consoleRow        `json:"accessNoJS"`
	Summary        string              `json:"summary"`
	WhatIfRow      *consoleRow         `json:"whatIfRow"`
	Verdict        string              `json:"verdict"`
	VerdictText    string              `json:"verdictText"`
	MatrixServers  []string            `json:"matrixServers"`
	Matrix         []consoleRow        `json:"matrix"`
	Decisions      []consoleRow        `json:"decisions"`
	Charts         []string            `json:"charts"`
	PolicyRevision string              `json:"policyRevision"`
	ConnsBefore    []string            `json:"connectionsBefore"`
	ConnsRefused   []string            `json:"connectionsAfterRefused"`
	ConnsAfter     []string            `json:"connectionsAfter"`
	Flash          string              `json:"flash"`
	NoCSRF         struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	} `json:"noCSRF"`
	BadCSRF struct {
		Status int `json:"status"`
	} `json:"badCSRF"`
	Mallory struct {
		SignInURL string `json:"signInURL"`
		Status    int    `json:"status"`
		Heading   string `json:"heading"`
		Text      string `json:"text"`
	} `json:"mallory"`
}

// TestConsoleInBrowser runs `mcpgate dev` and uses its web console in
// headless Chromium. Before, over MCP, bob (hr) lists his catalog and calls
// a tool he may call and one he may not, and alice connects the calendar
// (web sign-in and the calendar's own authorization server, as in
// cmd/mcpgate's TestDevCalendarConnect). Then, in the browser
// (testdata/console.mjs): carol (admin) opens /console without a session,
// signs in at the development identity provider and lands on the servers;
// opens a server; explores bob (picked in the "seen" select, with the
// page's script and without script by the Explore button) and asks the
// what-if box about a tool he is not shown; opens the matrix, the
// decisions filtered to bob, the policy page with alice's connections, and
// revokes her calendar connection by its button. A request without the
// CSRF token is refused. mallory (no groups) signs in and is refused with
// the policy's reasons. Checked: what the explorer says bob is shown is,
// kind by kind, exactly what his MCP client listed; the pages have no
// accessibility problem (browser.mjs's a11y); the keyboard reaches the skip
// link, the navigation and the explorer's form in order; every page has a
// PNG screenshot.
//
// The screenshots are kept under $MCPGATE_ARTIFACTS/TestConsoleInBrowser/
// when it is set. With MCPGATE_UPDATE_DOCS_SCREENSHOTS=1 the test also
// copies them to docs/img/, for docs/console.md: run
//
//	MCPGATE_UPDATE_DOCS_SCREENSHOTS=1 go test -run TestConsoleInBrowser ./e2e/
//
// and commit the changed docs/img/console-*.png.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	r := pw.New(t)
	r.Timeout = 3 * time.Minute
	script, err := os.ReadFile("testdata/console.mjs")
	if err != nil {
		t.Fatal(err)
	}
	bin := mcpgateBinary(t)
	gw := testtools.StartServer(t, "mcpgate dev", func(addr string) *exec.Cmd {
		return exec.Command(bin, "dev", "--addr", addr)
	})
	base := "http://" + gw.Addr
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// bob's MCP client: his catalog, one allowed call, one denied.
	bob := connectWithToken(t, ctx, base+"/mcp", cliDevToken(t, ctx, bin, gw.Addr, "bob"))
	eventuallyTools(t, ctx, bob, "hr__lookup_employee")
	listed := listCatalog(t, ctx, bob)
	if !listed["tool"]["hr__lookup_employee"] || listed["tool"][consoleWhatIf] {
		t.Fatalf("bob (hr) lists %v: want hr__lookup_employee and not %s", listed, consoleWhatIf)
	}
	if res, err := bob.CallTool(ctx, &mcp.CallToolParams{Name: "hr__lookup_employee", Arguments: map[string]any{"id": "E1003"}}); err != nil || res.IsError {
		t.Fatalf("bob calls hr__lookup_employee: %v %+v", err, res)
	}
	if _, err := bob.CallTool(ctx, &mcp.CallToolParams{Name: consoleWhatIf, Arguments: map[string]any{"id": "n1", "text": "x"}}); err == nil {
		t.Fatalf("bob (notes read-only) called %s", consoleWhatIf)
	}

	// alice connects the calendar, so that the Policy page has a
	// connection to show and revoke.
	connectCalendar(t, ctx, base, cliDevToken(t, ctx, bin, gw.Addr, "alice"), "alice")

	stdout := r.Run(t, string(script), map[string]string{
		"BASE_URL":      base,
		"EXPLORE_USER":  "bob",
		"EMPLOYEE":      "alice",
		"WHATIF_TARGET": consoleWhatIf,
		"REVOKE":        "calendar",
	})
	var got consoleResult
	pw.DecodeLast(t, stdout, &got)
	t.Logf("console.mjs: %s", lastLine(stdout))
	checkConsoleSignIn(t, base, &got)
	checkConsoleExplorer(t, &got, listed)
	checkConsolePages(t, &got)
	checkConsoleA11y(t, &got)
	checkConsoleShots(t, r.Screenshots)
}

func checkConsoleSignIn(t *testing.T, base string, got *consoleResult) {
	t.Helper()
	if !strings.HasPrefix(got.SignInURL, base+"/dev/idp/") || !slices.Contains(got.SignInUsers, "carol") {
		t.Errorf("/console without a session: sign-in page %s with users %v, want the development provider's", got.SignInURL, got.SignInUsers)
	}
	if got.Landed != base+"/console/servers" {
		t.Errorf("after signing in: %s, want %s/console/servers", got.Landed, base)
	}
	m := got.Mallory
	if !strings.HasPrefix(m.SignInURL, base+"/dev/idp/") || m.Status != http.StatusForbidden || m.Heading != "Not allowed" ||
		!strings.Contains(m.Text, "none of the groups that may use the console") {
		t.Errorf("mallory signs in and opens /console/servers: %+v; want 403 with the policy's reasons", m)
	}
	if got.NoCSRF.Status != http.StatusForbidden || got.BadCSRF.Status != http.StatusForbidden {
		t.Errorf("revocation POSTs with carol's session: without a CSRF token %d (%s), with a forged one %d; want 403 both",
			got.NoCSRF.Status, got.NoCSRF.Body, got.BadCSRF.Status)
	}
	if !slices.Contains(got.ConnsRefused, "calendar") {
		t.Errorf("after the refused revocations alice's connections are %v, want calendar still", got.ConnsRefused)
	}
}

// checkConsoleExplorer compares what the explorer says bob is shown with
// what his client listed, kind by kind.
func checkConsoleExplorer(t *testing.T, got *consoleResult, listed map[string]map[string]bool) {
	t.Helper()
	if !strings.Contains(got.ExploredLabel, "bob") {
		t.Errorf("explored %q, want bob", got.ExploredLabel)
	}
	if len(got.Access) == 0 {
		t.Fatal("the explorer listed no catalog entry for bob")
	}
	shown := map[string]map[string]bool{}
	for _, row := range got.Access {
		if row.Shown != "true" && row.Shown != "false" {
			t.Errorf("row %+v: data-shown %q", row, row.Shown)
		}
		if _, ok := listed[row.Kind]; !ok {
			t.Errorf("row %+v: kind %q is none of %v", row, row.Kind, keys(listed))
			continue
		}
		if shown[row.Kind] == nil {
			shown[row.Kind] = map[string]bool{}
		}
		if row.Shown == "true" {
			shown[row.Kind][row.Name] = true
		}
	}
	for kind, names := range listed {
		if a, b := keys(shown[kind]), keys(names); !slices.Equal(a, b) {
			t.Errorf("%ss: the explorer shows bob %q, his MCP client listed %q", kind, a, b)
		}
	}
	if !slices.EqualFunc(got.Access, got.AccessNoJS, func(a, b consoleRow) bool {
		return a.Kind == b.Kind && a.Name == b.Name && a.Shown == b.Shown
	}) {
		t.Errorf("without JavaScript the explorer shows\n%+v\nwith it\n%+v", got.AccessNoJS, got.Access)
	}
	if row := got.WhatIfRow; row == nil || row.Shown != "false" || len(row.Reasons) == 0 {
		t.Errorf("explorer row of %s: %+v, want not shown, with the policy's reasons", consoleWhatIf, row)
	}
	if !strings.Contains(got.Verdict, "denied") && !strings.Contains(got.Verdict, "not found") {
		t.Errorf("what if bob called %s: %q, want denied or not found", consoleWhatIf, got.VerdictText)
	}
}

func checkConsolePages(t *testing.T, got *consoleResult) {
	t.Helper()
	for _, want := range []string{"notes", "hr", "calendar"} {
		if !slices.Contains(got.Servers, want) {
			t.Errorf("servers page lists %v, want %s", got.Servers, want)
		}
	}
	// Columns: server, state, protocol, tools, ...
	for _, row := range got.ServerRows {
		if len(row.Cells) < 4 || row.Cells[1] != "ready" || row.Cells[3] == "0" {
			t.Errorf("servers page row %q: want a ready server with tools", row.Cells)
		}
	}
	if !strings.Contains(got.ServerCaption, "hr") || !slices.Contains(got.ServerItems, "hr__lookup_employee") {
		t.Errorf("hr's page: caption %q, items %v", got.ServerCaption, got.ServerItems)
	}
	// bob's group hr has all of server hr (it grants "all" there).
	hrColumn := slices.Index(got.MatrixServers, "hr")
	hrRow := slices.IndexFunc(got.Matrix, func(r consoleRow) bool { return len(r.Cells) > 0 && r.Cells[0] == "hr" })
	if hrColumn < 0 || hrRow < 0 || len(got.Matrix[hrRow].Cells) <= hrColumn+1 ||
		!strings.HasPrefix(got.Matrix[hrRow].Cells[hrColumn+1], "read (2 of 2)") {
		t.Errorf("matrix: servers %v, rows %+v; want group hr with both (read-only) tools of server hr", got.MatrixServers, got.Matrix)
	}
	// Decisions filtered to bob: his calls, the denied ones with reasons.
	// Columns: time, user, phase, method, server, target, outcome, reasons.
	var allowed, denied bool
	for _, row := range got.Decisions {
		if len(row.Cells) < 8 {
			t.Errorf("decision row %+v: want 9 cells", row)
			continue
		}
		user, target, outcome := row.Cells[1], row.Cells[5], row.Cells[6]
		if !strings.Contains(user, "bob") {
			t.Errorf("decisions filtered to bob show %+v", row)
		}
		switch {
		case strings.HasPrefix(outcome, "allowed"):
			allowed = allowed || target == "hr__lookup_employee"
		case strings.HasPrefix(outcome, "denied"):
			denied = denied || target == consoleWhatIf
			if len(row.Reasons) == 0 {
				t.Errorf("denied decision %+v shows no reason", row)
			}
		default:
			t.Errorf("decision %+v: outcome %q", row, outcome)
		}
	}
	if !allowed || !denied {
		t.Errorf("bob's decisions %+v: want hr__lookup_employee allowed and %s denied", got.Decisions, consoleWhatIf)
	}
	if len(got.Charts) == 0 {
		t.Error("decisions page has no chart")
	}
	if got.PolicyRevision == "" || got.PolicyRevision == "none loaded" {
		t.Errorf("policy page: revision %q", got.PolicyRevision)
	}
	if !slices.Contains(got.ConnsBefore, "calendar") || slices.Contains(got.ConnsAfter, "calendar") ||
		got.Flash != "The connection was revoked." {
		t.Errorf("alice's connections %v, after Revoke %v with the message %q; want calendar, then none and the connection revoked",
			got.ConnsBefore, got.ConnsAfter, got.Flash)
	}
}

// checkConsoleA11y wants no accessibility problem on any page, and a
// keyboard path from the top of the explorer: the skip link, the
// navigation, then the form's controls.
func checkConsoleA11y(t *testing.T, got *consoleResult) {
	t.Helper()
	for _, name := range append(slices.Clone(consoleShots), "console-explorer-empty", "console-policy-revoked") {
		problems, ok := got.A11y[name]
		if !ok {
			t.Errorf("page %s was not checked", name)
		}
		for _, p := range problems {
			t.Errorf("page %s: %s", name, p)
		}
	}
	order := got.TabOrder
	want := []string{
		`a[href="#main"] "Skip to content"`,
		`a[href="/console/servers"] "Servers"`,
		`a[href="/console/explorer"] "Access explorer"`,
		`a[href="/console/decisions"] "Decisions"`,
		`a[href="/console/policy"] "Policy"`,
	}
	if len(order) < len(want) || !slices.Equal(order[:len(want)], want) {
		t.Errorf("Tab from the top of the explorer reaches %q, want first %q", order, want)
	}
	for _, control := range []string{`select#seen[name="seen"]`, `input#sub[name="sub"]`, `input#groups[name="groups"]`,
		`input#scopes[name="scopes"]`, `button[type="submit"] "Explore"`} {
		if !slices.ContainsFunc(order, func(s string) bool { return strings.HasPrefix(s, control) }) {
			t.Errorf("Tab never reaches %s: %q", control, order)
		}
	}
	if !strings.HasPrefix(got.AfterSkip, "main#main") {
		t.Errorf("after the skip link the focus is on %q, want main#main", got.AfterSkip)
	}
}

// checkConsoleShots wants every page's screenshot, a PNG small enough to
// commit, and copies them to docs/img with MCPGATE_UPDATE_DOCS_SCREENSHOTS=1.
func checkConsoleShots(t *testing.T, dir string) {
	t.Helper()
	update := os.Getenv("MCPGATE_UPDATE_DOCS_SCREENSHOTS") == "1"
	docs := filepath.Join("..", "docs", "img")
	if update {
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range consoleShots {
		b, err := os.ReadFile(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			continue
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Errorf("screenshot %s: not a PNG: %v", name, err)
			continue
		}
		if cfg.Width != 1280 || cfg.Height != 800 || len(b) > maxShotBytes {
			t.Errorf("screenshot %s: %dx%d, %d bytes; want 1280x800 and at most %d bytes", name, cfg.Width, cfg.Height, len(b), maxShotBytes)
			continue
		}
		if update {
			if err := os.WriteFile(filepath.Join(docs, name+".png"), b, 0o644); err != nil {
				t.Errorf("update docs/img: %v", err)
			}
		}
	}
	if update && !t.Failed() {
		t.Logf("copied %d screenshots to docs/img", len(consoleShots))
	}
}

// cliDevToken gets user's access token with `mcpgate dev token`.
func cliDevToken(t *testing.T, ctx context.Context, bin, addr, user string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "dev", "token", "--addr", addr, user)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mcpgate dev token %s: %v: %s", user, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// listCatalog lists every page of cs's tools, prompts, resources and
// resource templates: the names by the explorer's kinds.
func listCatalog(t *testing.T, ctx context.Context, cs *mcp.ClientSession) map[string]map[string]bool {
	t.Helper()
	got := map[string]map[string]bool{"tool": {}, "prompt": {}, "resource": {}, "resource template": {}}
	for x, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		got["tool"][x.Name] = true
	}
	for x, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		got["prompt"][x.Name] = true
	}
	for x, err := range cs.Resources(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		got["resource"][x.URI] = true
	}
	for x, err := range cs.ResourceTemplates(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		got["resource template"][x.URITemplate] = true
	}
	return got
}

// connectCalendar connects user's calendar as cmd/mcpgate's
// TestDevCalendarConnect does: the first call answers -32042 with a
// connect link, which a browser (an http.Client that stops at redirects)
// follows (devsignin.FollowConnectLink).
func connectCalendar(t *testing.T, ctx context.Context, base, token, user string) {
	t.Helper()
	cs := connectWithToken(t, ctx, base+"/mcp", token)
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "calendar__list_events", Arguments: map[string]any{}})
	link, err := devsignin.ConnectLink(err)
	if err != nil {
		t.Fatalf("first calendar call: %v", err)
	}
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if _, cb, status, err := devsignin.FollowConnectLink(ctx, web, link, user); err != nil || status != http.StatusOK {
		t.Fatalf("connect link: callback %v answered %d: %v", cb, status, err)
	}
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "calendar__list_events", Arguments: map[string]any{}}); err != nil || res.IsError {
		t.Fatalf("calendar call after connecting: %v %+v", err, res)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
