package connections

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcpgate/mcpgate/authn"
)

// SSRF through metadata documents (issue #17, security regressions): an
// upstream of auth kind oauth without a configured authorization server
// names one in its protected-resource metadata, and that server's metadata
// names the endpoints. Neither may steer the gateway to a host the
// operator did not configure on a loopback, private, link-local or cloud
// metadata address: such a connection is refused before it is made (the
// dialer's address rules, internal/safehttp), and a loopback listener
// standing for the internal service sees no connection at all.

// countingServer is an https server on 127.0.0.1 that counts the
// connections its listener accepts: a stand-in for an internal service.
type countingServer struct {
	*httptest.Server
	conns atomic.Int32
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func startCountingTLS(t *testing.T, h http.Handler) *countingServer {
	t.Helper()
	s := &countingServer{Server: httptest.NewUnstartedServer(h)}
	s.Listener = countingListener{s.Listener, &s.conns}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes a guarded client fails
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// asMetadata serves RFC 8414 metadata whose issuer is the server's own
// URL, with endpoints edited by edit.
func asMetadata(self func() string, edit func(map[string]any)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		m := map[string]any{"issuer": self(), "authorization_endpoint": self() + "/authorize",
			"token_endpoint": self() + "/token", "registration_endpoint": self() + "/register",
			"response_types_supported": []string{"code"}, "code_challenge_methods_supported": []string{"S256"}}
		if edit != nil {
			edit(m)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m)
	})
	return mux
}

// ssrfHarness is a Manager of one upstream of auth kind oauth, "docs",
// whose URL is an https server on loopback (the configured upstream) and
// whose authorization server is discovered. The configured host and
// stand-in public hosts are reached as a real deployment would reach
// them; every other connection goes through the Manager's own guarded
// transport, unchanged.
type ssrfHarness struct {
	m        *Manager
	upstream *countingServer
	// prm is what the upstream's protected-resource metadata names as its
	// authorization server; respond, if set, answers instead.
	prm     atomic.Value // string
	respond atomic.Value // http.HandlerFunc
	dials   *dialRecorder
}

// dialRecorder dials only the addresses allowed (the configured upstream
// and the stand-ins for public servers) and records every other address
// it is asked to dial, without dialing it: a request the guarded
// transports should have refused.
type dialRecorder struct {
	allowed map[string]bool
	mu      sync.Mutex
	strays  []string
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if !d.allowed[addr] {
		d.mu.Lock()
		d.strays = append(d.strays, addr)
		d.mu.Unlock()
		return nil, fmt.Errorf("test: not dialing %s", addr)
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// noStrays fails if a metadata-named host was sent to the unguarded client.
func (h *ssrfHarness) noStrays(t *testing.T) {
	t.Helper()
	h.dials.mu.Lock()
	defer h.dials.mu.Unlock()
	if len(h.dials.strays) > 0 {
		t.Errorf("the client for configured hosts (any address) was asked to dial %v, which the upstream's metadata named", h.dials.strays)
	}
}

func newSSRFHarness(t *testing.T, allowInsecureHTTP bool, public ...*countingServer) *ssrfHarness {
	t.Helper()
	h := &ssrfHarness{}
	h.upstream = startCountingTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := h.respond.Load().(http.HandlerFunc); ok && f != nil {
			f(w, r)
			return
		}
		if r.URL.Path != "/.well-known/oauth-protected-resource/mcp" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"resource": h.upstream.URL + "/mcp",
			"authorization_servers": []string{h.prm.Load().(string)}})
	}))
	st, vault := fileVault(t, 3)
	m, err := New(Options{Upstreams: []Upstream{{Name: "docs", URL: h.upstream.URL + "/mcp", AllowInsecureHTTP: allowInsecureHTTP}},
		Vault: vault, Store: st, BaseURL: "http://127.0.0.1:2", Identity: signedIn,
		Scopes: func(context.Context, string, *authn.Identity) ([]string, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	h.dials = &dialRecorder{allowed: map[string]bool{h.upstream.Listener.Addr().String(): true}}
	roots := x509.NewCertPool()
	roots.AddCert(h.upstream.Certificate())
	for _, p := range public {
		h.dials.allowed[p.Listener.Addr().String()] = true
		roots.AddCert(p.Certificate())
	}
	direct := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DialContext: h.dials.dial}
	t.Cleanup(direct.CloseIdleConnections)
	// The configured upstream is the operator's choice: reached with the
	// Manager's client for any address (m.hc), its redirect policy
	// unchanged; the test only trusts its certificate, and records any
	// other address that client is asked to dial (it would connect).
	hc := *m.hc
	hc.Transport = direct
	m.hc = &hc
	// The stand-ins for public servers are reached directly; the rest
	// goes through the guarded clients' own transports, unchanged.
	for _, c := range []**http.Client{&m.guarded, &m.devGuarded} {
		g := **c
		g.Transport = standIn{public: h.dials.allowed, direct: direct, guarded: g.Transport}
		*c = &g
	}
	h.m = m
	return h
}

// standIn sends requests to the hosts in public directly, the rest to
// guarded: a test can only start servers on loopback, which the guarded
// transport refuses, so those stand for public servers.
type standIn struct {
	public  map[string]bool
	direct  http.RoundTripper
	guarded http.RoundTripper
}

func (s standIn) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.public[r.URL.Host] {
		return s.direct.RoundTrip(r)
	}
	return s.guarded.RoundTrip(r)
}

func (h *ssrfHarness) resolve(t *testing.T) error {
	t.Helper()
	u, err := h.m.upstream("docs")
	if err != nil {
		t.Fatal(err)
	}
	h.m.metaMu.Lock()
	delete(h.m.metaErr, "docs")
	h.m.metaMu.Unlock()
	_, err = h.m.resolve(context.Background(), u)
	return err
}

// TestDiscoveryAuthorizationServerSteeredRefused: an authorization server
// that the upstream's protected-resource metadata names on a loopback,
// private, link-local or cloud metadata address, or over http, is refused
// before any connection; a loopback server standing for an internal one
// sees none. The same with allow_insecure_http (development: loopback and
// private networks may serve metadata), except that link-local and cloud
// metadata addresses stay refused (found here: with allow_insecure_http,
// the endpoints the upstream's metadata named were reached on any
// address, 169.254.169.254 included).
func TestDiscoveryAuthorizationServerSteeredRefused(t *testing.T) {
	t.Parallel()
	var internalURL string
	internal := startCountingTLS(t, asMetadata(func() string { return internalURL }, nil))
	internalURL = internal.URL
	port := internal.Listener.Addr().(*net.TCPAddr).Port
	h := newSSRFHarness(t, false)
	// Each is refused before a connection: IP literals of non-public
	// addresses by the go-sdk's check of the metadata, the rest by the
	// dialer's address rules (internal/safehttp).
	const literal = "refers to a non-public address"
	forbidden := map[string]string{
		internal.URL: "refusing to connect to 127.0.0.1:" + strconv.Itoa(port) + ": loopback address",
		strings.Replace(internal.URL, "127.0.0.1", "localhost", 1):          "refusing to connect to 127.0.0.1:" + strconv.Itoa(port) + ": loopback address",
		strings.Replace(internal.URL, "127.0.0.1", "[::ffff:127.0.0.1]", 1): "refusing to connect to 127.0.0.1:" + strconv.Itoa(port) + ": loopback address",
		"https://[64:ff9b::a9fe:a9fe]/":                                     "refusing to connect to [64:ff9b::a9fe:a9fe]:443: cloud metadata service address 169.254.169.254 in NAT64 form",
		"https://[64:ff9b::7f00:1]:" + strconv.Itoa(port):                   "loopback address 127.0.0.1 in NAT64 form",
		"https://169.254.169.254/":                                          literal,
		"https://169.254.169.254:443":                                       literal,
		"https://[::ffff:169.254.169.254]/":                                 literal,
		"https://[fd00:ec2::254]/":                                          literal,
		"https://169.254.1.1/":                                              literal,
		"https://[fe80::1]/":                                                literal,
		"https://10.0.0.1/":                                                 literal,
		"https://192.168.1.1/":                                              literal,
		"https://172.16.0.1/":                                               literal,
		"https://100.64.0.1/":                                               literal,
		"https://[fd12:3456::1]/":                                           literal,
		"https://0.0.0.0:" + strconv.Itoa(port):                             literal,
		"https://[::]:" + strconv.Itoa(port):                                literal,
	}
	for as, reason := range forbidden {
		h.prm.Store(as)
		if err := h.resolve(t); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("authorization server %s: %v, want refused: %s", as, err, reason)
		}
	}
	for _, as := range []string{strings.Replace(internal.URL, "https:", "http:", 1), "http://169.254.169.254/", "ftp://127.0.0.1/", "javascript:alert(1)"} {
		h.prm.Store(as)
		if err := h.resolve(t); err == nil || strings.Contains(err.Error(), "refusing to connect") {
			t.Errorf("authorization server %s: %v, want refused for its scheme", as, err)
		}
	}
	if n := internal.conns.Load(); n != 0 {
		t.Errorf("the internal server accepted %d connections", n)
	}
	h.noStrays(t)

	// In development (allow_insecure_http), loopback may serve metadata;
	// link-local and cloud metadata addresses never.
	dev := newSSRFHarness(t, true)
	dev.prm.Store(internal.URL)
	if err := dev.resolve(t); err != nil && strings.Contains(err.Error(), "refusing to connect") {
		t.Errorf("allow_insecure_http: loopback authorization server refused: %v", err)
	}
	if internal.conns.Load() == 0 {
		t.Error("allow_insecure_http: the loopback authorization server was not reached")
	}
	for as, reason := range map[string]string{
		"https://[64:ff9b::a9fe:a9fe]/": "refusing to connect to [64:ff9b::a9fe:a9fe]:443: cloud metadata service address 169.254.169.254 in NAT64 form",
		"https://[64:ff9b::a9fe:101]/":  "link-local address 169.254.1.1 in NAT64 form",
		"https://169.254.169.254/":      literal,
		"http://169.254.169.254/":       "does not use HTTPS or is not a loopback address",
	} {
		dev.prm.Store(as)
		if err := dev.resolve(t); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("allow_insecure_http: authorization server %s: %v, want refused: %s", as, err, reason)
		}
	}
	dev.noStrays(t)
}

// TestDiscoveryEndpointsSteeredRefused: an authorization server reached on
// a public address (a stand-in) whose metadata names its registration
// endpoint on a loopback, link-local or cloud metadata address is refused
// before any connection, so is a token or authorization endpoint over
// http; metadata that names another issuer is refused before anything it
// names is contacted.
func TestDiscoveryEndpointsSteeredRefused(t *testing.T) {
	t.Parallel()
	internal := startCountingTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": "stolen", "client_secret": "s"})
	}))
	var edit atomic.Value // func(map[string]any)
	var asURL string
	as := startCountingTLS(t, asMetadata(func() string { return asURL }, func(m map[string]any) { edit.Load().(func(map[string]any))(m) }))
	asURL = as.URL
	h := newSSRFHarness(t, false, as)
	h.prm.Store(as.URL)
	cases := map[string]struct {
		edit func(map[string]any)
		want string
	}{
		"registration on loopback": {func(m map[string]any) { m["registration_endpoint"] = internal.URL + "/register" }, "loopback address"},
		"registration at localhost": {func(m map[string]any) {
			m["registration_endpoint"] = strings.Replace(internal.URL, "127.0.0.1", "localhost", 1)
		}, "loopback address"},
		"registration on cloud metadata": {func(m map[string]any) { m["registration_endpoint"] = "https://169.254.169.254/latest/meta-data" }, "refers to a non-public address"},
		"registration private":           {func(m map[string]any) { m["registration_endpoint"] = "https://10.1.2.3/register" }, "refers to a non-public address"},
		"registration NAT64 metadata": {func(m map[string]any) { m["registration_endpoint"] = "https://[64:ff9b::a9fe:a9fe]/register" },
			"refusing to connect to [64:ff9b::a9fe:a9fe]:443: cloud metadata service address"},
		"registration over http": {func(m map[string]any) {
			m["registration_endpoint"] = "http://" + internal.Listener.Addr().String() + "/register"
		}, "registration_endpoint"},
		"token endpoint over http":    {func(m map[string]any) { m["token_endpoint"] = "http://169.254.169.254/token" }, "token_endpoint"},
		"authorization endpoint http": {func(m map[string]any) { m["authorization_endpoint"] = "http://10.0.0.1/authorize" }, "authorization_endpoint"},
		"another issuer": {func(m map[string]any) {
			m["issuer"], m["registration_endpoint"] = internal.URL, internal.URL+"/register"
		}, "does not match issuer"},
	}
	for name, tc := range cases {
		edit.Store(tc.edit)
		err := h.resolve(t)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want refused (%s)", name, err, tc.want)
		}
	}
	// In development (allow_insecure_http) too, a cloud metadata address
	// the metadata names is never contacted.
	dev := newSSRFHarness(t, true, as)
	dev.prm.Store(as.URL)
	edit.Store(func(m map[string]any) { m["registration_endpoint"] = "https://[64:ff9b::a9fe:a9fe]/register" })
	if err := dev.resolve(t); err == nil || !strings.Contains(err.Error(), "refusing to connect to [64:ff9b::a9fe:a9fe]:443: cloud metadata service address") {
		t.Errorf("allow_insecure_http: registration at a cloud metadata address: %v, want refused", err)
	}
	if n := internal.conns.Load(); n != 0 {
		t.Errorf("the internal server accepted %d connections", n)
	}
	h.noStrays(t)
	dev.noStrays(t)
	// The harness reaches a well-behaved server: the refusals above are the
	// endpoints', not the harness's.
	edit.Store(func(m map[string]any) { m["registration_endpoint"] = as.URL + "/register" })
	if err := h.resolve(t); err == nil || !strings.Contains(err.Error(), "dynamic client registration at "+as.URL+"/register") {
		t.Errorf("a public registration endpoint: %v, want the server's own answer (no registration handler)", err)
	}
}

// TestDiscoveryNotSteeredByTheUpstream: the discovery reads the
// protected-resource metadata only at the configured upstream's own
// well-known URLs: an upstream that answers them with a redirect, or with
// a 401 whose WWW-Authenticate names resource_metadata elsewhere, does not
// get the gateway to fetch anything from the place it names.
func TestDiscoveryNotSteeredByTheUpstream(t *testing.T) {
	t.Parallel()
	var internalURL string
	internal := startCountingTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"resource": internalURL, "authorization_servers": []string{internalURL}})
	}))
	internalURL = internal.URL
	h := newSSRFHarness(t, false, internal) // even a host the gateway could reach
	for name, f := range map[string]http.HandlerFunc{
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, internal.URL+"/.well-known/oauth-protected-resource", http.StatusTemporaryRedirect)
		},
		"resource_metadata": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+internal.URL+`/.well-known/oauth-protected-resource"`)
			w.WriteHeader(http.StatusUnauthorized)
		},
	} {
		h.respond.Store(f)
		if err := h.resolve(t); err == nil || !strings.Contains(err.Error(), "no protected-resource metadata") {
			t.Errorf("%s: %v, want no metadata found", name, err)
		}
	}
	if n := internal.conns.Load(); n != 0 {
		t.Errorf("the place the upstream named accepted %d connections", n)
	}
	if n := h.upstream.conns.Load(); n == 0 {
		t.Error("the upstream was never asked: the test proves nothing")
	}
}
