package authserver

import (
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/internal/authrule"
	"github.com/mcpgate/mcpgate/internal/safehttp"
)

// Defaults and limits of the Client ID Metadata Document fetcher
// (draft-ietf-oauth-client-id-metadata-document-02, "the draft" below;
// section numbers are that revision's).
const (
	cimdDefaultTimeout   = 5 * time.Second
	cimdDefaultMaxBytes  = 5 << 10 // the draft's §8.7 recommends reading at most 5 KB
	cimdDefaultCacheSize = 1000
	cimdDefaultMinTTL    = time.Minute
	cimdDefaultMaxTTL    = 24 * time.Hour
	// cimdDefaultTTL is the lifetime of a document served without caching
	// headers.
	cimdDefaultTTL = 5 * time.Minute
	// cimdFailureBackoff is how long after a failed fetch the same URL is
	// not fetched again (see cimdFetcher).
	cimdFailureBackoff = 30 * time.Second
	// cimdMaxInFlight bounds the documents being fetched at once.
	cimdMaxInFlight = 32
)

// cimdOptions configure a cimdFetcher. Zero values mean the defaults.
type cimdOptions struct {
	// AllowPrivate lets the fetcher reach loopback and private addresses,
	// and http URLs on a loopback host: for tests and local development
	// only (safehttp.Options.InsecureAllowPrivateNetworks).
	AllowPrivate bool
	// RootCAs are the certificate authorities trusted for https. If nil,
	// the system's.
	RootCAs *x509.CertPool
	// Timeout bounds one fetch, body included. If zero, 5 s.
	Timeout time.Duration
	// MaxBytes is the largest document read; a larger one is an error. If
	// zero, 5 KiB, as the draft recommends.
	MaxBytes int64
	// CacheSize is the number of documents (and recent failures) kept. If
	// zero or less, 1000.
	CacheSize int
	// MinTTL and MaxTTL bound how long a document is used, whatever its
	// caching headers say. If zero, 1 minute and 24 hours.
	MinTTL, MaxTTL time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// cimdFetcher fetches Client ID Metadata Documents: the metadata of a
// client whose client_id is an https URL is the JSON document at that URL.
// Whoever starts an authorization request chooses the URL, so the fetch
// goes through safehttp (public addresses only, after DNS resolution) and
// never follows redirects (the draft's §5).
//
// Documents are cached as their HTTP caching headers say, within
// [MinTTL, MaxTTL] (see cacheTTL). Concurrent fetches of one URL share one
// request, and at most cimdMaxInFlight documents are fetched at once.
//
// A failed fetch is not repeated for cimdFailureBackoff: callers get the
// same error until then. The draft (§5.2) forbids caching error responses
// so that a fixed document is used at once; we accept a delay of at most
// 30 s so that client ids pointing at a slow or failing host, one
// authorization request after another, cannot make the gateway hammer that
// host.
type cimdFetcher struct {
	client         *safehttp.Client
	allowPrivate   bool
	minTTL, maxTTL time.Duration
	now            func() time.Time

	mu       sync.Mutex
	cache    *cimdCache
	inflight map[string]*cimdCall
	// joined, tests only, is told the client id of each caller that waits
	// for a fetch already under way.
	joined chan<- string
}

// cimdCall is a fetch under way; done is closed when md or err is set.
type cimdCall struct {
	done chan struct{}
	md   *ClientMetadata
	err  error
}

// newCIMDFetcher returns a fetcher with opts' defaults filled in.
func newCIMDFetcher(opts cimdOptions) *cimdFetcher {
	f := &cimdFetcher{
		client: safehttp.New(&safehttp.Options{
			Timeout:                      cmp.Or(opts.Timeout, cimdDefaultTimeout),
			MaxBytes:                     cmp.Or(opts.MaxBytes, cimdDefaultMaxBytes),
			MaxRedirects:                 -1,
			RootCAs:                      opts.RootCAs,
			InsecureAllowPrivateNetworks: opts.AllowPrivate,
		}),
		allowPrivate: opts.AllowPrivate,
		minTTL:       cmp.Or(opts.MinTTL, cimdDefaultMinTTL),
		maxTTL:       cmp.Or(opts.MaxTTL, cimdDefaultMaxTTL),
		now:          opts.Now,
		cache:        newCIMDCache(opts.CacheSize),
		inflight:     make(map[string]*cimdCall),
	}
	if f.now == nil {
		f.now = time.Now
	}
	return f
}

// isCIMDClientID reports whether a client_id is a CIMD URL (the draft's
// §3): https (http on a loopback host only when allowPrivate), with a
// host and a path component, no fragment, no user info, no dot segments
// (also percent-encoded), printable ASCII of at most 2000 bytes.
func isCIMDClientID(id string, allowPrivate bool) bool {
	u, err := parseURI(id)
	switch {
	case err != nil || u.User != nil || u.Hostname() == "" || u.EscapedPath() == "":
		return false
	case u.Scheme == "http" && !(allowPrivate && authrule.IsLoopbackHost(u.Hostname())):
		return false
	case u.Scheme != "https" && u.Scheme != "http":
		return false
	}
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if s, err := url.PathUnescape(seg); err != nil || s == "." || s == ".." {
			return false
		}
	}
	return true
}

// fetch returns the client metadata document of clientID, from the cache
// when fresh. A document that breaks the rules is a *metadataError; a
// refused address wraps safehttp.ErrForbiddenAddress.
func (f *cimdFetcher) fetch(ctx context.Context, clientID string) (*ClientMetadata, error) {
	if !isCIMDClientID(clientID, f.allowPrivate) {
		return nil, fmt.Errorf("client metadata document %q: not a client ID metadata document URL: use https, with a path, without user info, fragment or dot segments", clientID)
	}
	f.mu.Lock()
	if e, ok := f.cache.get(clientID, f.now()); ok {
		f.mu.Unlock()
		return e.result()
	}
	c, joined := f.inflight[clientID]
	if !joined {
		if len(f.inflight) >= cimdMaxInFlight {
			f.mu.Unlock()
			return nil, fmt.Errorf("client metadata document %s: %d documents are being fetched already: try again shortly", clientID, cimdMaxInFlight)
		}
		c = &cimdCall{done: make(chan struct{})}
		f.inflight[clientID] = c
		// The fetch serves every caller waiting for it: no caller's
		// cancellation cuts it short; safehttp's timeout bounds it.
		go f.run(context.WithoutCancel(ctx), clientID, c)
	}
	f.mu.Unlock()
	if joined && f.joined != nil {
		f.joined <- clientID
	}
	select {
	case <-c.done:
		if c.err != nil {
			return nil, c.err
		}
		return c.md.clone(), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("client metadata document %s: %w", clientID, context.Cause(ctx))
	}
}

// run fetches a document for the callers waiting on c and caches the
// outcome.
func (f *cimdFetcher) run(ctx context.Context, clientID string, c *cimdCall) {
	md, ttl, err := f.fetchDocument(ctx, clientID)
	f.mu.Lock()
	delete(f.inflight, clientID)
	switch now := f.now(); {
	case err != nil:
		f.cache.put(&cimdEntry{clientID: clientID, err: err, expires: now.Add(cimdFailureBackoff)})
	case ttl > 0:
		f.cache.put(&cimdEntry{clientID: clientID, md: md, expires: now.Add(ttl)})
	}
	f.mu.Unlock()
	c.md, c.err = md, err
	close(c.done)
}

// fetchDocument fetches, checks and normalizes one document, and returns
// how long it may be used.
func (f *cimdFetcher) fetchDocument(ctx context.Context, clientID string) (*ClientMetadata, time.Duration, error) {
	resp, err := f.client.Get(ctx, clientID, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return nil, 0, fmt.Errorf("client metadata document: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			hint = " (redirects are not followed: the document must be at its client_id)"
		}
		return nil, 0, fmt.Errorf("client metadata document %s: status %s, want 200 OK%s", clientID, resp.Status, hint)
	}
	md, err := parseCIMD(clientID, resp)
	if err != nil {
		return nil, 0, err
	}
	return md, f.cacheTTL(resp.Header), nil
}

// cimdDocument is a Client ID Metadata Document as decoded: the metadata,
// and the fields that must not appear.
type cimdDocument struct {
	ClientMetadata
	ClientSecret          json.RawMessage `json:"client_secret"`
	ClientSecretExpiresAt json.RawMessage `json:"client_secret_expires_at"`
}

// parseCIMD decodes and checks the document fetched for clientID.
// Unknown fields are allowed: documents may carry any registered client
// metadata.
func parseCIMD(clientID string, resp *safehttp.Response) (*ClientMetadata, error) {
	invalid := func(format string, args ...any) error {
		return &metadataError{Code: codeInvalidClientMetadata, Description: "client metadata document " + clientID + ": " + fmt.Sprintf(format, args...)}
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil, invalid("content type %q, want application/json", ct)
	}
	var doc cimdDocument
	dec := json.NewDecoder(bytes.NewReader(resp.Body))
	if !bytes.HasPrefix(bytes.TrimLeft(resp.Body, " \t\r\n"), []byte("{")) {
		return nil, invalid("must be a JSON object")
	}
	if err := dec.Decode(&doc); err != nil {
		return nil, invalid("not a valid JSON object of client metadata: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("must be a single JSON object, with nothing after it")
	}
	switch {
	case doc.ClientID != clientID:
		return nil, invalid("client_id in the document is %q, want the URL", doc.ClientID)
	case doc.ClientSecret != nil || doc.ClientSecretExpiresAt != nil:
		return nil, invalid("client_secret and client_secret_expires_at must not appear: a client identified by its metadata document has no secret")
	}
	md := &doc.ClientMetadata
	if err := md.normalizeCIMD(); err != nil {
		var me *metadataError
		if errors.As(err, &me) {
			me.Description = "client metadata document " + clientID + ": " + me.Description
		}
		return nil, err
	}
	return md, nil
}

// cached reports whether a fresh outcome (document or failure) for
// clientID is in the cache, so that fetch will not go to the network.
func (f *cimdFetcher) cached(clientID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.cache.get(clientID, f.now())
	return ok
}
