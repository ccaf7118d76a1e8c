package browser_test

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testtools/browser"
)

// A page with a form: a labelled input and a button, then a link. Its
// Content-Security-Policy allows no script at all: the helpers must work
// on a locked-down page too.
const signupPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign up</title></head>
<body>
<h1>Sign up</h1>
<form method="post" action="/submit">
  <label for="name">Name</label>
  <input id="name" name="name" autocomplete="off">
  <button type="submit">Send</button>
</form>
<p><a href="/variety">Other controls</a></p>
</body>
</html>`

// A page of correct controls of every kind the check knows, none of
// which it may flag.
const varietyPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Variety</title></head>
<body>
<h1>Variety</h1>
<h2>Section</h2>
<h3>Subsection</h3>
<h2>Another section</h2>
<form>
  <label>Wrapped <input name="wrapped"></label>
  <select aria-label="Colour" name="colour"><option>red</option></select>
  <span id="notes-label">Notes</span><textarea aria-labelledby="notes-label" name="notes"></textarea>
  <input type="hidden" name="csrf" value="x">
  <input type="submit">
  <input type="button" value="Preview">
  <input style="display:none" name="invisible">
  <button aria-label="Close">×</button>
  <button><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="Search"></button>
</form>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<a href="/"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="Home"></a>
<div aria-hidden="true"><input name="decorative"></div>
</body>
</html>`

// A page with one problem of each kind.
const badPage = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>Bad</title></head>
<body>
<h1>Bad</h1>
<h3>Skipped a level</h3>
<h1>Second h1</h1>
<input id="q" name="q">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<button></button>
<a href="/"></a>
</body>
</html>`

var wantBad = []string{
	"html: no lang attribute",
	"page has 2 h1 elements, want exactly 1",
	`h3 "Skipped a level": heading skips a level (h1 then h3)`,
	`input#q[name="q"]: no label (label[for], wrapping label, aria-label or aria-labelledby)`,
	`img[src="data:image/gif;base64,R0lGODlhAQABAAAAACw="]: no alt attribute`,
	"button: button has no accessible name",
	`a[href="/"]: link has no accessible name`,
}

type site struct {
	mu    sync.Mutex
	names []string
}

func (s *site) handler() http.Handler {
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'")
			fmt.Fprint(w, body)
		}
	}
	mux.HandleFunc("GET /{$}", page(signupPage))
	mux.HandleFunc("GET /variety", page(varietyPage))
	mux.HandleFunc("GET /bad", page(badPage))
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		name := r.PostFormValue("name")
		s.mu.Lock()
		s.names = append(s.names, name)
		s.mu.Unlock()
		page(`<!doctype html><html lang="en"><head><title>Thanks</title></head><body><h1>Thanks, `+
			html.EscapeString(name)+`</h1></body></html>`)(w, r)
	})
	return mux
}

// The script: sign up by keyboard alone, screenshot before and after,
// check the three pages.
const script = `
import { withPage, shot, a11y, tabOrder, describeActive } from './browser.mjs';

const base = process.env.BASE_URL;
const result = await withPage(async (page) => {
  await page.goto(base + '/');
  const order = await tabOrder(page, 3);
  // Back to the top, then into the form: Tab, type, Enter.
  await page.goto(base + '/');
  await page.keyboard.press('Tab');
  const focused = await describeActive(page);
  await page.keyboard.type('Ada Lovelace');
  await shot(page, 'signup');
  await Promise.all([page.waitForURL(base + '/submit'), page.keyboard.press('Enter')]);
  const heading = await page.textContent('h1');
  await shot(page, 'thanks');
  const problems = {};
  for (const p of ['/', '/variety', '/bad']) {
    await page.goto(base + p);
    problems[p] = await a11y(page);
  }
  return { order, focused, heading, problems };
});
console.log(JSON.stringify(result));
`

func TestSignUpByKeyboard(t *testing.T) {
	r := browser.New(t)
	s := &site{}
	srv := httptest.NewServer(s.handler()) // 127.0.0.1
	defer srv.Close()

	out := r.Run(t, script, map[string]string{"BASE_URL": srv.URL})
	var got struct {
		Order    []string            `json:"order"`
		Focused  string              `json:"focused"`
		Heading  string              `json:"heading"`
		Problems map[string][]string `json:"problems"`
	}
	browser.DecodeLast(t, out, &got)

	wantOrder := []string{
		`input#name[name="name"] "Name"`,
		`button[type="submit"] "Send"`,
		`a[href="/variety"] "Other controls"`,
	}
	if !slices.Equal(got.Order, wantOrder) {
		t.Errorf("tab order = %q, want %q", got.Order, wantOrder)
	}
	if got.Focused != wantOrder[0] {
		t.Errorf("focused after one Tab = %q, want %q", got.Focused, wantOrder[0])
	}
	s.mu.Lock()
	names := slices.Clone(s.names)
	s.mu.Unlock()
	if !slices.Equal(names, []string{"Ada Lovelace"}) {
		t.Errorf("server received names %q, want one post of %q", names, "Ada Lovelace")
	}
	if got.Heading != "Thanks, Ada Lovelace" {
		t.Errorf("heading after submit = %q", got.Heading)
	}
	for _, p := range []string{"/", "/variety"} {
		if len(got.Problems[p]) != 0 {
			t.Errorf("a11y(%s) = %q, want no problems", p, got.Problems[p])
		}
	}
	if !slices.Equal(got.Problems["/bad"], wantBad) {
		t.Errorf("a11y(/bad) =\n  %q\nwant\n  %q", got.Problems["/bad"], wantBad)
	}

	for _, name := range []string{"signup.png", "thanks.png"} {
		b, err := os.ReadFile(filepath.Join(r.Screenshots, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s: not a PNG (starts %q)", name, b[:min(len(b), 8)])
		}
	}
}

// A failing script takes a failure screenshot before its error ends it.
func TestFailureScreenshot(t *testing.T) {
	r := browser.New(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>x</title><h1>x</h1></html>`)
	}))
	defer srv.Close()
	out := r.Run(t, `
import { withPage } from './browser.mjs';
try {
  await withPage(async (page) => {
    await page.goto(process.env.BASE_URL);
    throw new Error('deliberate');
  });
} catch (err) {
  console.log(JSON.stringify({ error: err.message }));
}
`, map[string]string{"BASE_URL": srv.URL})
	var got struct{ Error string }
	browser.DecodeLast(t, out, &got)
	if got.Error != "deliberate" {
		t.Errorf("error = %q, want deliberate", got.Error)
	}
	if _, err := os.Stat(filepath.Join(r.Screenshots, "failure.png")); err != nil {
		t.Error(err)
	}
}

func TestScreenshotDirArtifacts(t *testing.T) {
	root := t.TempDir()
	t.Setenv("MCPGATE_ARTIFACTS", root)
	t.Run("a b/c", func(t *testing.T) {
		stale := filepath.Join(root, "TestScreenshotDirArtifacts_a_b_c")
		if err := os.MkdirAll(stale, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(stale, "old.png"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		d := browser.ScreenshotDir(t)
		if d != stale {
			t.Errorf("ScreenshotDir = %s, want %s", d, stale)
		}
		if _, err := os.Stat(filepath.Join(d, "old.png")); !os.IsNotExist(err) {
			t.Errorf("a previous run's screenshot is left: %v", err)
		}
		if err := os.WriteFile(filepath.Join(d, "new.png"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if again := browser.ScreenshotDir(t); again != d {
			t.Errorf("second ScreenshotDir = %s, want %s", again, d)
		}
		if _, err := os.Stat(filepath.Join(d, "new.png")); err != nil {
			t.Errorf("a second call emptied the directory: %v", err)
		}
	})
}
