package connections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/internal/safehttp"
	"github.com/mcpgate/mcpgate/store"
)

// Paths of the pages Handler serves, under Options.BaseURL.
const (
	PathStart = "/connect/start"
	// PathCallback is the prefix of the OAuth redirect URIs: one per
	// upstream, PathCallback + "/" + its name, so that a callback is only
	// ever taken for the upstream whose authorization server was asked (no
	// mix-up between upstreams, RFC 9700 §4.4).
	PathCallback    = "/connect/callback"
	PathConnections = "/connections"
	PathRevoke      = "/connections/revoke"
	// PathClientMetadata is the prefix of the gateway's OAuth Client ID
	// Metadata Documents, one per upstream (PathClientMetadata + "/" + its
	// name + ".json", naming only that upstream's redirect URI): its
	// client_id at authorization servers that support them. Public:
	// authorization servers fetch them, nobody signs in.
	PathClientMetadata = "/connect/client-metadata"
)

// Defaults of Options.
const (
	DefaultTicketTTL     = 10 * time.Minute
	DefaultRefreshMargin = 60 * time.Second
	DefaultHTTPTimeout   = 10 * time.Second
)

// Namespaces of the vault and the store.
const (
	nsToken   = "connect/token"   // vault: owner employee, name server
	nsClient  = "connect/client"  // vault: owner server, name issuer
	nsPending = "connect/pending" // vault: owner ticket or state id
	nsUsed    = "connect/used"    // store: single-use marks
	nsLock    = "connect/lock"    // store: a connection's row lock
)

// Upstream is an upstream of auth kind oauth.
type Upstream struct {
	// Name is the server's configured name; URL its MCP endpoint.
	Name, URL string
	// AuthorizationServer is the issuer of the upstream's authorization
	// server. If empty, it is discovered from the upstream's
	// protected-resource metadata (RFC 9728).
	AuthorizationServer string
	// ClientID is the gateway's client at that server. If empty, the
	// gateway registers one (RFC 7591) and keeps it in the vault.
	ClientID string
	// ClientSecret returns the client secret, read at each use; nil for a
	// public client (PKCE only) or a registered one.
	ClientSecret func() (string, error)
	// Resource is the RFC 8707 resource asked for. If empty, URL.
	Resource string
	// AllowInsecureHTTP permits http:// metadata and endpoints on
	// loopback addresses (tests, local development).
	AllowInsecureHTTP bool
}

func (u *Upstream) resource() string {
	if u.Resource != "" {
		return u.Resource
	}
	return u.URL
}

// Options configure a Manager. Vault, Store, BaseURL, Identity and Scopes
// are required: New refuses to build a Manager without them.
type Options struct {
	Upstreams []Upstream
	// Vault keeps tokens, registered clients and pending authorizations;
	// Store marks tickets and states used (the vault's store).
	Vault *store.Vault
	Store store.Store
	// BaseURL is the gateway's public URL (scheme, host, optional path):
	// the connect pages and the OAuth redirect URI are under it.
	BaseURL string
	// Identity returns the employee signed in to the gateway's pages in
	// the browser that sent r (web sign-in), and false for nobody.
	Identity func(r *http.Request) (*authn.Identity, bool)
	// Scopes decides which scopes of upstream's authorization server to
	// ask for when id connects (policy, data.mcpgate.authz.upstream_scopes
	// with method upstream/connect). An error refuses the connection.
	Scopes func(ctx context.Context, upstream string, id *authn.Identity) ([]string, error)
	// CheckCSRF checks a state-changing request from a page (revoke); nil
	// refuses every such request.
	CheckCSRF func(r *http.Request) error
	// CSRFToken is the token pages put in their forms; nil for none.
	CSRFToken func(r *http.Request) string
	// Connected is called after id connected upstream, with the
	// elicitation the connection completes ("" when none).
	Connected func(id *authn.Identity, upstream, elicitationID string)
	// HTTPClient makes discovery, registration and token requests. If nil,
	// a client with DefaultHTTPTimeout that follows no redirect.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// TicketTTL bounds how long a connect link and a pending authorization
	// stay usable. If zero, DefaultTicketTTL.
	TicketTTL time.Duration
	// RefreshMargin is how long before its expiry a token is refreshed. If
	// zero, DefaultRefreshMargin.
	RefreshMargin time.Duration
	Now           func() time.Time
}

// Manager runs the connect flow and keeps employees' upstream tokens. It
// is safe for concurrent use.
type Manager struct {
	opts      Options
	base      *url.URL
	upstreams map[string]*Upstream
	hc        *http.Client
	// guarded makes the requests to endpoints the upstream's metadata
	// chose (not the configuration): private and loopback addresses
	// refused (internal/safehttp).
	guarded *http.Client
	// devGuarded is guarded for an upstream with allow_insecure_http
	// (development): loopback and private networks allowed, link-local
	// and cloud metadata addresses still refused.
	devGuarded *http.Client
	log        *slog.Logger

	metaMu  sync.Mutex
	meta    map[string]*serverMeta  // by upstream name
	metaErr map[string]*metaFailure // by upstream name

	locks keyedMutex // per (employee, upstream): one refresh at a time
}

// New returns a Manager, or an error naming what is missing.
func New(opts Options) (*Manager, error) {
	var missing []string
	if opts.Vault == nil {
		missing = append(missing, "Vault")
	}
	if opts.Store == nil {
		missing = append(missing, "Store")
	}
	if opts.Identity == nil {
		missing = append(missing, "Identity")
	}
	if opts.Scopes == nil {
		missing = append(missing, "Scopes")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("connections: missing %s: employees' upstream tokens need them (fail closed)", strings.Join(missing, ", "))
	}
	base, err := url.Parse(strings.TrimSuffix(opts.BaseURL, "/"))
	if err != nil || !base.IsAbs() || base.Host == "" {
		return nil, fmt.Errorf("connections: BaseURL %q is not an absolute URL: the OAuth redirect URI is built from it", opts.BaseURL)
	}
	m := &Manager{opts: opts, base: base, upstreams: map[string]*Upstream{}, hc: opts.HTTPClient,
		log: opts.Logger, meta: map[string]*serverMeta{}, metaErr: map[string]*metaFailure{}}
	for i := range opts.Upstreams {
		u := &opts.Upstreams[i]
		if _, dup := m.upstreams[u.Name]; dup || u.Name == "" {
			return nil, fmt.Errorf("connections: upstream %q: empty or repeated name", u.Name)
		}
		m.upstreams[u.Name] = u
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if m.hc == nil {
		m.hc = &http.Client{Timeout: DefaultHTTPTimeout, CheckRedirect: noRedirect}
	}
	m.guarded = &http.Client{Timeout: DefaultHTTPTimeout, CheckRedirect: noRedirect,
		Transport: safehttp.New(nil).Transport()}
	m.devGuarded = &http.Client{Timeout: DefaultHTTPTimeout, CheckRedirect: noRedirect,
		Transport: safehttp.New(&safehttp.Options{InsecureAllowPrivateNetworks: true}).Transport()}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.opts.TicketTTL <= 0 {
		m.opts.TicketTTL = DefaultTicketTTL
	}
	if m.opts.RefreshMargin <= 0 {
		m.opts.RefreshMargin = DefaultRefreshMargin
	}
	if m.opts.Now == nil {
		m.opts.Now = time.Now
	}
	return m, nil
}

// Has reports whether name is an upstream the manager connects.
func (m *Manager) Has(name string) bool { _, ok := m.upstreams[name]; return ok }

// pageURL returns the absolute URL of a page path.
func (m *Manager) pageURL(path string, q url.Values) string {
	u := *m.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

// redirectURI is the OAuth redirect URI the gateway registers and uses
// for u.
func (m *Manager) redirectURI(u *Upstream) string {
	return m.pageURL(PathCallback+"/"+url.PathEscape(u.Name), nil)
}

// client is the HTTP client of requests to u's authorization server: any
// address for one the configuration names, public addresses only for one
// the upstream's metadata named (in development, allow_insecure_http,
// loopback and private networks too, but never link-local or cloud
// metadata addresses: before, any address). Options.HTTPClient replaces
// them all.
func (m *Manager) client(u *Upstream) *http.Client {
	switch {
	case m.opts.HTTPClient != nil || u.AuthorizationServer != "":
		return m.hc
	case u.AllowInsecureHTTP:
		return m.devGuarded
	}
	return m.guarded
}

// employee is the vault owner of an employee's tokens: the issuer and
// subject that identify them.
func employee(id *authn.Identity) string { return id.Issuer + "\x00" + id.Subject }

func sameEmployee(a *authn.Identity, iss, sub string) bool {
	return a != nil && a.Issuer == iss && a.Subject == sub
}

var errUnknownUpstream = errors.New("not an upstream of auth kind oauth")

func (m *Manager) upstream(name string) (*Upstream, error) {
	u, ok := m.upstreams[name]
	if !ok {
		return nil, fmt.Errorf("connections: server %q: %w", name, errUnknownUpstream)
	}
	return u, nil
}

// keyedMutex is a mutex per key, dropped when unused.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
