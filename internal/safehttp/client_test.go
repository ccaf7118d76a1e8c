package safehttp_test

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/safehttp"
)

// server is an httptest server on 127.0.0.1 that counts the requests it
// receives.
type server struct {
	*httptest.Server
	hits atomic.Int32
}

func newTLSServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return pool
}

func (s *server) addrPort() netip.AddrPort {
	return netip.MustParseAddrPort(s.Listener.Addr().String())
}

func hello(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello") }

// wantRefused checks that err is a refusal containing each of parts.
func wantRefused(t *testing.T, err error, parts ...string) {
	t.Helper()
	if !errors.Is(err, safehttp.ErrForbiddenAddress) {
		t.Fatalf("error %v, want one wrapping ErrForbiddenAddress", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

func TestRefusesLoopbackBeforeConnecting(t *testing.T) {
	t.Parallel()
	srv := newTLSServer(t, hello)
	port := srv.addrPort().Port()
	c := safehttp.New(&safehttp.Options{RootCAs: srv.roots()})
	t.Cleanup(c.CloseIdleConnections)

	_, err := c.Get(t.Context(), srv.URL+"/doc", nil)
	wantRefused(t, err, fmt.Sprintf("get %s/doc: refusing to connect to 127.0.0.1:%d: loopback address", srv.URL, port))

	// A name is checked by the address it resolves to, not by its spelling.
	_, err = c.Get(t.Context(), fmt.Sprintf("https://localhost:%d/doc", port), nil)
	wantRefused(t, err, "loopback address")
	rebind := safehttp.NewForTest(&safehttp.Options{RootCAs: srv.roots()},
		map[string]netip.Addr{"public.example.com": netip.MustParseAddr("127.0.0.1")}, netip.AddrPort{})
	_, err = rebind.Get(t.Context(), fmt.Sprintf("https://public.example.com:%d/doc", port), nil)
	wantRefused(t, err, fmt.Sprintf("refusing to connect to 127.0.0.1:%d: loopback address", port))

	if n := srv.hits.Load(); n != 0 {
		t.Errorf("the server received %d requests, want none", n)
	}
}

func TestInsecureAllowPrivateNetworks(t *testing.T) {
	t.Parallel()
	srv := newTLSServer(t, hello)
	plain := httptest.NewServer(http.HandlerFunc(hello))
	t.Cleanup(plain.Close)
	c := safehttp.New(&safehttp.Options{RootCAs: srv.roots(), InsecureAllowPrivateNetworks: true})
	t.Cleanup(c.CloseIdleConnections)

	for _, u := range []string{srv.URL + "/doc", plain.URL + "/doc"} {
		resp, err := c.Get(t.Context(), u, nil)
		if err != nil {
			t.Fatalf("Get(%s): %v", u, err)
		}
		if resp.StatusCode != http.StatusOK || string(resp.Body) != "hello" || resp.URL.String() != u {
			t.Errorf("Get(%s) = %d %q from %s", u, resp.StatusCode, resp.Body, resp.URL)
		}
	}
	// http off loopback stays refused. (The name maps to loopback, so that
	// even a regression sends nothing off this machine; link-local and
	// metadata addresses are tested on the Control hook itself.)
	mapped := safehttp.NewForTest(&safehttp.Options{InsecureAllowPrivateNetworks: true},
		map[string]netip.Addr{"public.example.com": netip.MustParseAddr("127.0.0.1")}, netip.AddrPort{})
	u := fmt.Sprintf("http://public.example.com:%d/doc", netip.MustParseAddrPort(plain.Listener.Addr().String()).Port())
	_, err := mapped.Get(t.Context(), u, nil)
	wantRefused(t, err, "http is allowed only on a loopback host")
}

func TestRefusesSchemes(t *testing.T) {
	t.Parallel()
	plain := &server{}
	plain.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain.hits.Add(1)
	}))
	t.Cleanup(plain.Close)
	c := safehttp.New(nil)
	for in, want := range map[string]string{
		plain.URL + "/doc":   `scheme "http" is not allowed: use https`,
		"file:///etc/passwd": `scheme "file" is not allowed`,
		"ftp://example.com/": `scheme "ftp" is not allowed`,
		"gopher://x/":        `scheme "gopher" is not allowed`,
		"/relative":          `scheme "" is not allowed`,
		"https:///nohost":    "no host in the URL",
	} {
		_, err := c.Get(t.Context(), in, nil)
		wantRefused(t, err, "get "+in+": "+want)
	}
	if n := plain.hits.Load(); n != 0 {
		t.Errorf("the http server received %d requests, want none", n)
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	forbidden := newTLSServer(t, hello)
	fport := forbidden.addrPort().Port()
	var public *server
	public = newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/to-loopback":
			http.Redirect(w, r, forbidden.URL+"/secret", http.StatusFound)
		case p == "/to-name":
			http.Redirect(w, r, fmt.Sprintf("https://localhost:%d/secret", fport), http.StatusFound)
		case p == "/to-http":
			http.Redirect(w, r, fmt.Sprintf("http://127.0.0.1:%d/secret", fport), http.StatusFound)
		case p == "/to-ok":
			http.Redirect(w, r, "/final", http.StatusMovedPermanently)
		case strings.HasPrefix(p, "/loop/"):
			http.Redirect(w, r, p+"x", http.StatusFound)
		default:
			hello(w, r)
		}
	})
	// public.example.com stands for a public server: its address is the
	// only one the rules let through.
	hosts := map[string]netip.Addr{"public.example.com": public.addrPort().Addr()}
	base := fmt.Sprintf("https://public.example.com:%d", public.addrPort().Port())
	c := safehttp.NewForTest(&safehttp.Options{RootCAs: public.roots()}, hosts, public.addrPort())
	t.Cleanup(c.CloseIdleConnections)

	resp, err := c.Get(t.Context(), base+"/to-ok", nil)
	if err != nil || string(resp.Body) != "hello" || resp.URL.Path != "/final" {
		t.Fatalf("a redirect to an allowed URL: %+v, %v", resp, err)
	}

	_, err = c.Get(t.Context(), base+"/to-loopback", nil)
	wantRefused(t, err, fmt.Sprintf("get %s/to-loopback (redirected to %s/secret): refusing to connect to 127.0.0.1:%d: loopback address", base, forbidden.URL, fport))
	_, err = c.Get(t.Context(), base+"/to-name", nil)
	wantRefused(t, err, "(redirected to https://localhost:", "loopback address")
	_, err = c.Get(t.Context(), base+"/to-http", nil)
	wantRefused(t, err, `redirect refused: scheme "http" is not allowed: use https`)
	if n := forbidden.hits.Load(); n != 0 {
		t.Errorf("the loopback server received %d requests, want none", n)
	}

	before := public.hits.Load()
	_, err = c.Get(t.Context(), base+"/loop/", nil)
	if err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Errorf("a redirect loop: %v, want stopped after 3 redirects", err)
	}
	if n := public.hits.Load() - before; n != 4 {
		t.Errorf("a redirect loop made %d requests, want 4", n)
	}

	noFollow := safehttp.NewForTest(&safehttp.Options{RootCAs: public.roots(), MaxRedirects: -1}, hosts, public.addrPort())
	resp, err = noFollow.Get(t.Context(), base+"/to-loopback", nil)
	if err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != forbidden.URL+"/secret" {
		t.Errorf("MaxRedirects -1: %+v, %v; want the 302 itself", resp, err)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 100
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := limit
		if r.URL.Path != "/exact" {
			n++
		}
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length: the size shows only while reading
		}
		w.Write([]byte(strings.Repeat("a", n)))
	})
	c := safehttp.New(&safehttp.Options{RootCAs: srv.roots(), MaxBytes: limit, InsecureAllowPrivateNetworks: true})
	t.Cleanup(c.CloseIdleConnections)

	resp, err := c.Get(t.Context(), srv.URL+"/exact", nil)
	if err != nil || len(resp.Body) != limit {
		t.Fatalf("a body of exactly the limit: %v", err)
	}
	for path, want := range map[string]string{
		"/declared": "body of 101 bytes exceeds the limit of 100 bytes",
		"/chunked":  "body exceeds the limit of 100 bytes",
	} {
		resp, err := c.Get(t.Context(), srv.URL+path, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %+v, %v; want an error saying %q", path, resp, err, want)
		}
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dribble" {
			w.Write([]byte("{"))
			w.(http.Flusher).Flush()
		}
		// Never finishes the response, not even when the client gives up:
		// a handler that returned then could still complete the response
		// while the client's TLS close_notify is on its way.
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	const timeout = 100 * time.Millisecond
	c := safehttp.New(&safehttp.Options{RootCAs: srv.roots(), Timeout: timeout, InsecureAllowPrivateNetworks: true})
	t.Cleanup(c.CloseIdleConnections)
	for _, path := range []string{"/dribble", "/silent"} {
		_, err := c.Get(t.Context(), srv.URL+path, nil)
		want := fmt.Sprintf("get %s%s: no complete response within %v", srv.URL, path, timeout)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", path, err, want)
		}
	}
}

func TestSendsHeaders(t *testing.T) {
	t.Parallel()
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", r.Header.Get("Accept"), r.Header.Get("Cookie"))
	})
	c := safehttp.New(&safehttp.Options{RootCAs: srv.roots(), InsecureAllowPrivateNetworks: true})
	t.Cleanup(c.CloseIdleConnections)
	resp, err := c.Get(t.Context(), srv.URL, http.Header{"Accept": {"application/json"}})
	if err != nil || string(resp.Body) != "application/json|" {
		t.Errorf("Get = %v, %v; want the Accept header and nothing else", resp, err)
	}
	if _, err := url.Parse(srv.URL); err != nil {
		t.Fatal(err)
	}
}

// Transport applies the address rules to requests of any method: a POST to
// a loopback token endpoint is refused before connecting, and goes through
// when private networks are allowed.
func TestTransportRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	srv := newTLSServer(t, hello)
	c := safehttp.New(&safehttp.Options{RootCAs: srv.roots()})
	t.Cleanup(c.CloseIdleConnections)
	hc := &http.Client{Transport: c.Transport()}
	_, err := hc.Post(srv.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=x"))
	wantRefused(t, err, "loopback address")
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("the server received %d requests, want none", n)
	}
	open := safehttp.New(&safehttp.Options{RootCAs: srv.roots(), InsecureAllowPrivateNetworks: true})
	t.Cleanup(open.CloseIdleConnections)
	resp, err := (&http.Client{Transport: open.Transport()}).Post(srv.URL+"/token", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("allowed POST: %d", resp.StatusCode)
	}
}
