package safehttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds a whole Get, body included.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxBytes is the largest body Get reads.
	DefaultMaxBytes = 64 << 10
	// DefaultMaxRedirects is the number of redirects Get follows.
	DefaultMaxRedirects = 3
)

// maxHeaderBytes bounds the response headers, which MaxBytes does not count.
const maxHeaderBytes = 32 << 10

// Options configure a Client. The zero value is the safe default.
type Options struct {
	// Timeout bounds a whole Get: resolving, connecting, every redirect and
	// reading the body. If zero, DefaultTimeout.
	Timeout time.Duration
	// MaxBytes is the largest body Get reads; a longer body is an error,
	// never silently truncated. If zero, DefaultMaxBytes.
	MaxBytes int64
	// MaxRedirects is the number of redirects Get follows, each checked
	// like the first URL. If zero, DefaultMaxRedirects; if negative, none:
	// Get returns the redirect response itself.
	MaxRedirects int
	// RootCAs are the certificate authorities trusted for https. If nil,
	// the system's.
	RootCAs *x509.CertPool
	// InsecureAllowPrivateNetworks lets Get connect to loopback and private
	// addresses (RFC 1918, CGNAT, unique local IPv6) and fetch http URLs on
	// a loopback host. It is for tests and local development only: on a
	// server it lets whoever chooses the URL reach the gateway's own
	// network. Link-local addresses, cloud metadata services and the other
	// special-use ranges stay refused.
	InsecureAllowPrivateNetworks bool
}

// Client fetches documents at URLs someone else chose. It is safe for
// concurrent use.
type Client struct {
	hc           *http.Client
	timeout      time.Duration
	maxBytes     int64
	maxRedirects int
	allowPrivate bool
	// exempt, valid in tests only, is the one address the address rules
	// let through: a stand-in for a public server (export_test.go).
	exempt netip.AddrPort
}

// Response is a fetched response with its whole body.
type Response struct {
	StatusCode int
	Status     string
	Header     http.Header
	Body       []byte
	// URL is the URL the response came from, after any redirects.
	URL *url.URL
}

// New returns a Client. Nil options mean the defaults.
func New(opts *Options) *Client {
	return newClient(opts, nil)
}

// Transport returns the client's HTTP transport: its address rules at
// every connection (a request to a refused address fails with an error
// wrapping ErrForbiddenAddress), no proxy. It is for callers that must
// POST (token and registration endpoints someone else chose); they set
// their own timeout, body limit and redirect policy.
func (c *Client) Transport() http.RoundTripper { return c.hc.Transport }

// newClient returns a Client whose dialer connects to hosts[name] for a
// host name in hosts (tests only) and resolves every other name with DNS.
func newClient(opts *Options, hosts map[string]netip.Addr) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Client{
		timeout:      orDefault(o.Timeout, DefaultTimeout),
		maxBytes:     orDefault(o.MaxBytes, DefaultMaxBytes),
		maxRedirects: orDefault(o.MaxRedirects, DefaultMaxRedirects),
		allowPrivate: o.InsecureAllowPrivateNetworks,
	}
	// Get's deadline bounds dialing, the TLS handshake and waiting for
	// headers: no separate timeouts that would race with it.
	dialer := &net.Dialer{ControlContext: c.control}
	tr := &http.Transport{
		Proxy:                  nil, // never a proxy from the environment
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		MaxResponseHeaderBytes: maxHeaderBytes,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	if hosts != nil {
		tr.DialContext = mappedDial(dialer, hosts)
	}
	c.hc = &http.Client{Transport: tr, CheckRedirect: c.checkRedirect}
	return c
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// mappedDial dials hosts[name] instead of resolving name: a test's DNS.
func mappedDial(d *net.Dialer, hosts map[string]netip.Addr) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil {
			if ip, ok := hosts[host]; ok {
				addr = net.JoinHostPort(ip.String(), port)
			}
		}
		return d.DialContext(ctx, network, addr)
	}
}

// Get fetches rawURL with the given request headers (nil for none) and
// returns the response, whatever its status, with its whole body. Errors
// for a refused URL or address wrap ErrForbiddenAddress.
func (c *Client) Get(ctx context.Context, rawURL string, header http.Header) (*Response, error) {
	op := "get " + rawURL
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := c.checkURL(u); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range header {
		req.Header[k] = append([]string(nil), v...)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			op = redirected(op, u, ue.URL)
			err = ue.Err
		}
		return nil, c.fetchError(ctx, op, err)
	}
	defer resp.Body.Close()
	body, err := c.readBody(resp)
	if err != nil {
		return nil, c.fetchError(ctx, redirected(op, u, resp.Request.URL.String()), err)
	}
	return &Response{StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header, Body: body, URL: resp.Request.URL}, nil
}

// readBody reads the whole body, failing when it exceeds maxBytes.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > c.maxBytes {
		return nil, fmt.Errorf("body of %d bytes exceeds the limit of %d bytes", resp.ContentLength, c.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > c.maxBytes {
		return nil, fmt.Errorf("body exceeds the limit of %d bytes", c.maxBytes)
	}
	return body, nil
}

// redirected adds the URL a failure happened at to op when a redirect led
// there from u.
func redirected(op string, u *url.URL, at string) string {
	if at == u.String() {
		return op
	}
	return op + " (redirected to " + at + ")"
}

// fetchError words an error from Do or from reading the body: a refused
// address as itself, without the dial layer around it, and our own
// deadline as a timeout.
func (c *Client) fetchError(ctx context.Context, op string, err error) error {
	var oe *net.OpError
	var fe *forbiddenError
	switch {
	case errors.As(err, &oe) && errors.As(oe.Err, &fe):
		return fmt.Errorf("%s: %w", op, fe)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: no complete response within %v: %w", op, c.timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// checkRedirect applies the limit on redirects and checks each target
// like the first URL; the address rules apply when it is dialled.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	switch {
	case c.maxRedirects < 0:
		return http.ErrUseLastResponse
	case len(via) > c.maxRedirects:
		return fmt.Errorf("stopped after %d redirects", c.maxRedirects)
	}
	if err := c.checkURL(req.URL); err != nil {
		return fmt.Errorf("redirect refused: %w", err)
	}
	return nil
}

// checkURL accepts https URLs and, with InsecureAllowPrivateNetworks, http
// URLs on a loopback host.
func (c *Client) checkURL(u *url.URL) error {
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && c.allowPrivate && authrule.IsLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http" && c.allowPrivate:
		return forbidden("http is allowed only on a loopback host: use https")
	case u.Scheme == "https":
		return forbidden("no host in the URL")
	}
	return forbidden("scheme %q is not allowed: use https", u.Scheme)
}

// CloseIdleConnections closes the connections kept for reuse.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }
