package authn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxIdPResponse bounds a discovery document or key set read from an IdP.
const maxIdPResponse = 1 << 20

// errRefreshLimited is returned, without touching the network, for a key
// set fetch asked for less than RefreshInterval after the previous one.
var errRefreshLimited = errors.New("key set refresh rate-limited")

// keyFetcher is the http.RoundTripper under one issuer's oidc.RemoteKeySet.
//
// go-oidc's RemoteKeySet caches keys and refetches the whole set whenever a
// token's kid is unknown or its signature fails with the cached keys. It
// coalesces concurrent refetches into one request, but does not limit them
// over time: a stream of tokens with random kids (or tampered tokens with a
// known kid) would fetch the JWKS once per token. keyFetcher admits at most
// one network fetch per interval; a fetch refused here fails, so RemoteKeySet
// keeps its cached keys and the token is refused. Rotation still works
// without a restart: a new kid is fetched at most interval after the last
// fetch.
//
// It also remembers whether the last network fetch failed, which is how
// Verify tells "IdP unreachable" (ErrUnavailable) from "bad token", and caps
// the response size.
type keyFetcher struct {
	next     http.RoundTripper
	issuer   string
	interval time.Duration
	now      func() time.Time
	logger   *slog.Logger

	mu     sync.Mutex
	last   time.Time // of the last network fetch
	failed bool      // the last network fetch failed
}

func (f *keyFetcher) RoundTrip(req *http.Request) (*http.Response, error) {
	if !f.admit() {
		return nil, errRefreshLimited
	}
	resp, err := f.next.RoundTrip(req)
	switch {
	case err != nil:
		f.record(err)
		return nil, err
	case resp.StatusCode != http.StatusOK:
		f.record(fmt.Errorf("status %s", resp.Status))
	default:
		f.record(nil)
	}
	resp.Body = limitBody(resp.Body)
	return resp, nil
}

func (f *keyFetcher) admit() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	// A clock stepped back by more than interval does not lock fetches out.
	if since := now.Sub(f.last); !f.last.IsZero() && since > -f.interval && since < f.interval {
		return false
	}
	f.last = now
	return true
}

func (f *keyFetcher) record(err error) {
	f.mu.Lock()
	wasFailed := f.failed
	f.failed = err != nil
	f.mu.Unlock()
	switch {
	case err != nil:
		f.logger.Error("authn: JWKS fetch failed: tokens needing keys from this issuer are refused until it succeeds",
			"issuer", f.issuer, "error", errorText(err), "retry_after", f.interval)
	case wasFailed:
		f.logger.Info("authn: JWKS fetch recovered", "issuer", f.issuer)
	}
}

// unavailable reports whether the last key set fetch failed.
func (f *keyFetcher) unavailable() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// limitBody caps a response body at maxIdPResponse; a longer document is
// cut and then fails to decode (fail closed).
func limitBody(body io.ReadCloser) io.ReadCloser {
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(body, maxIdPResponse), body}
}

// limitedTransport caps response bodies of discovery fetches.
type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = limitBody(resp.Body)
	return resp, nil
}

// withTransport returns a copy of c using rt.
func withTransport(c *http.Client, rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: rt, Timeout: c.Timeout, CheckRedirect: c.CheckRedirect}
}

func baseTransport(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// hmacKeySet verifies HS* tokens of an issuer with a shared secret, using
// go-jose directly: go-oidc's StaticKeySet accepts only public keys.
// go-oidc has already refused any algorithm outside the issuer's list before
// calling it; parsing again with the HS* list keeps that true on its own.
type hmacKeySet struct {
	secret []byte
	algs   []jose.SignatureAlgorithm
}

func (k *hmacKeySet) VerifySignature(_ context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(jwt, k.algs)
	if err != nil {
		return nil, err
	}
	return jws.Verify(k.secret)
}
