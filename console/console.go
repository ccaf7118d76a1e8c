package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/authserver"
	"github.com/mcpgate/mcpgate/authn/websession"
	"github.com/mcpgate/mcpgate/connections"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/internal/authrule"
	"github.com/mcpgate/mcpgate/policy"
)

// Path is where the console is served; every page is under it.
const Path = "/console"

// Backend is what the console reads of the gateway; *gateway.Gateway is
// the implementation.
type Backend interface {
	Status() gateway.Status
	ServerCatalog(server string) ([]gateway.CatalogItem, error)
	SeenIdentities() []authn.Identity
	Explore(ctx context.Context, id *authn.Identity) gateway.Exploration
	WhatIf(ctx context.Context, id *authn.Identity, req gateway.WhatIfRequest) (gateway.WhatIfResult, error)
	Matrix(ctx context.Context, groups []string) gateway.Matrix
	PolicyServer(name string) (*policy.Server, bool)
}

// Authorizer decides the console phase; *policy.Engine is the
// implementation. Decide must deny on any failure, and logs the decision.
type Authorizer interface {
	Decide(ctx context.Context, in *policy.Input) policy.Decision
	Status() policy.Status
}

// Sessions signs the console's users in; *websession.Manager is the
// implementation. Require must refuse requests without a session, and
// state-changing ones without the session's CSRF token.
type Sessions interface {
	Require(next http.Handler) http.Handler
	CSRFToken(r *http.Request) string
}

// Grants are the authorization server's grants (authorization-server
// mode); *authserver.Server is the implementation.
type Grants interface {
	Grants(ctx context.Context, sub string) ([]authserver.Grant, error)
	RevokeGrant(ctx context.Context, sub, clientID, by string) (bool, error)
}

// Connections are the employees' connections to oauth upstreams;
// *connections.Manager is the implementation.
type Connections interface {
	Connections(ctx context.Context, id *authn.Identity) ([]connections.Connection, error)
	Revoke(ctx context.Context, id *authn.Identity, upstream string) (bool, error)
}

// Options configure a Console.
type Options struct {
	// Backend, Authorizer, Sessions and Recent are required.
	Backend    Backend
	Authorizer Authorizer
	Sessions   Sessions
	// Recent holds the latest decisions (the Decisions page).
	Recent *policy.Recent
	// Grants, if not nil, are listed and revocable on the Policy page.
	Grants Grants
	// Connections, if not nil, are listed and revocable on the Policy
	// page; ConnectionsIssuer is the issuer of the employees' identities
	// they are stored under (the MCP tokens' issuer).
	Connections       Connections
	ConnectionsIssuer string
	// TraceURL, if set, links each decision's trace id: {trace_id} is
	// replaced by it (e.g. https://jaeger.example.com/trace/{trace_id}).
	TraceURL string
	// Logger receives the audit lines of revocations. If nil,
	// slog.Default().
	Logger *slog.Logger
	// Now, if nil, is time.Now.
	Now func() time.Time
}

// Console serves the console's pages.
type Console struct {
	opts  Options
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
	// explorations holds a token per exploration running (explore);
	// one waits at most explorationWait for a token.
	explorations    chan struct{}
	explorationWait time.Duration
}

// Bounds of the work one page may cost: an exploration (the explorer,
// the what-if, the matrix) decides every catalog entry, the matrix once
// per group.
const (
	// maxExplorations run at once per console; more wait explorationWait,
	// then are answered 503.
	maxExplorations = 2
	explorationWait = 5 * time.Second
	// explorationTimeout ends an exploration; the page shows what was
	// decided by then and says it is incomplete.
	explorationTimeout = 20 * time.Second
)

// errBusy answers an exploration that found no slot in time.
var errBusy = errors.New("the console is busy with other explorations: try again in a moment")

// explore runs fn with an exploration slot and explorationTimeout; it
// fails with errBusy when no slot frees up in explorationWait.
func (c *Console) explore(ctx context.Context, fn func(ctx context.Context)) error {
	wait := time.NewTimer(c.explorationWait)
	defer wait.Stop()
	select {
	case c.explorations <- struct{}{}:
	case <-wait.C:
		return errBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.explorations }()
	ctx, cancel := context.WithTimeout(ctx, explorationTimeout)
	defer cancel()
	fn(ctx)
	return nil
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New checks opts and returns a Console.
func New(opts Options) (*Console, error) {
	var errs []error
	if opts.Backend == nil {
		errs = append(errs, errors.New("backend: required"))
	}
	if opts.Authorizer == nil {
		errs = append(errs, errors.New("authorizer: required (every page is a policy decision)"))
	}
	if opts.Sessions == nil {
		errs = append(errs, errors.New("sessions: required (the console is signed in to)"))
	}
	if opts.Recent == nil {
		errs = append(errs, errors.New("recent decisions: required"))
	}
	if opts.TraceURL != "" && !strings.Contains(opts.TraceURL, "{trace_id}") {
		errs = append(errs, fmt.Errorf("trace URL %q: must contain {trace_id}", opts.TraceURL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Console{opts: opts, log: opts.Logger, explorations: make(chan struct{}, maxExplorations),
		explorationWait: explorationWait}
	var err error
	if c.pages, err = c.parsePages(); err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	c.routes()
	return c, nil
}

// Handler serves every path under Path: the static files to anyone, the
// pages to users signed in and allowed by the policy.
func (c *Console) Handler() http.Handler { return securityHeaders(boundForms(c.mux)) }

// maxFormBytes bounds a posted form: the console's forms are
// url-encoded, the what-if's arguments at most maxArguments.
const maxFormBytes = 64 << 10

// boundForms reads every posted form, of at most maxFormBytes, before
// sign-in and the CSRF check do (a token in the X-CSRF-Token header skips
// reading it there), and refuses one that is larger, malformed, or not
// url-encoded (a multipart one would be spooled to disk).
func boundForms(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if r.ContentLength != 0 && ct != "application/x-www-form-urlencoded" {
				http.Error(w, "the console takes url-encoded forms only", http.StatusUnsupportedMediaType)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				status := http.StatusBadRequest
				if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
					status = http.StatusRequestEntityTooLarge
				}
				http.Error(w, "the form cannot be read: "+err.Error(), status)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (c *Console) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Path+"/static/", http.FileServerFS(static))
	mux := http.NewServeMux()
	mux.Handle("GET "+Path+"/static/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	page := func(pattern, method string, h pageHandler) {
		mux.Handle(pattern, c.opts.Sessions.Require(c.authorize(method, h)))
	}
	mux.Handle("GET "+Path, http.RedirectHandler(Path+"/servers", http.StatusSeeOther))
	mux.Handle("GET "+Path+"/{$}", http.RedirectHandler(Path+"/servers", http.StatusSeeOther))
	page("GET "+Path+"/servers", policy.MethodConsoleServers, c.servers)
	page("GET "+Path+"/servers/{name}", policy.MethodConsoleServers, c.server)
	page("GET "+Path+"/explorer", policy.MethodConsoleExplorer, c.explorer)
	page("POST "+Path+"/explorer", policy.MethodConsoleExplorer, c.explorer)
	page("GET "+Path+"/explorer/matrix", policy.MethodConsoleExplorer, c.matrix)
	page("GET "+Path+"/decisions", policy.MethodConsoleDecisions, c.decisions)
	page("GET "+Path+"/policy", policy.MethodConsolePolicy, c.policy)
	page("POST "+Path+"/policy/revoke", policy.MethodConsolePolicy, c.revoke)
	mux.Handle(Path+"/", c.opts.Sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, http.StatusNotFound, "Not found", "There is no console page at this address.", nil)
	})))
	c.mux = mux
}

// pageHandler serves one page to a user the policy allowed.
type pageHandler func(w http.ResponseWriter, r *http.Request, user *authn.Identity)

// authorize decides the request in phase console with method; a denial
// (or a failed decision, which denies) refuses the page with the policy's
// reasons.
func (c *Console) authorize(method string, h pageHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := websession.FromContext(r.Context())
		if !ok {
			c.errorPage(w, r, http.StatusUnauthorized, "Sign-in required", "Sign in to use the console.", nil)
			return
		}
		d := c.opts.Authorizer.Decide(r.Context(), c.input(r, user, method))
		if !d.Allow {
			c.errorPage(w, r, http.StatusForbidden, "Not allowed",
				"The policy does not let you use this page of the console.", d.Reasons)
			return
		}
		h(w, r, user)
	})
}

// input is the console-phase input of a request of user. Its client
// address is the one the listener's edge put in the request
// (gateway.ClientAddressed: trusted_proxies applied, a client's own value
// removed), as for every other phase; "" without one.
func (c *Console) input(r *http.Request, user *authn.Identity, method string) *policy.Input {
	groups := user.Groups
	if groups == nil {
		groups = []string{}
	}
	return &policy.Input{Phase: policy.PhaseConsole, Method: method,
		User:    policy.User{Sub: user.Subject, Iss: user.Issuer, Email: user.Email, Name: user.Name, Groups: groups, Claims: user.Claims},
		Request: policy.Request{Time: c.opts.Now().UTC(), RemoteAddr: r.Header.Get(authrule.ClientAddressHeader)}}
}

// securityHeaders sets the headers of every answer: nothing but the
// console's own files may load, no frame may hold it, nothing is cached
// but the static files.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// layout is what every page's frame shows.
type layout struct {
	Title   string
	Nav     string // the page's section, for aria-current
	User    *authn.Identity
	CSRF    string
	Flash   string
	Content any
}

// render writes page with status. If the template fails, nothing of it
// is written: the answer is 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, title string, content any) {
	user, _ := websession.FromContext(r.Context())
	l := layout{Title: title, Nav: page, User: user, CSRF: c.opts.Sessions.CSRFToken(r), Content: content}
	if f, ok := content.(interface{ flash() string }); ok {
		l.Flash = f.flash()
	}
	t, ok := c.pages[page]
	if !ok {
		page, t = "error", c.pages["error"]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", l); err != nil {
		c.log.Error("console: render page", "page", page, "err", err)
		http.Error(w, "internal error: render page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorContent struct {
	Message string
	Reasons []string
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string, reasons []string) {
	c.render(w, r, status, "error", title, errorContent{Message: message, Reasons: reasons})
}
