package authserver

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate/internal/safehttp"
)

// docServer is an https server on 127.0.0.1 serving client metadata
// documents, counting the requests it receives.
type docServer struct {
	*httptest.Server
	hits atomic.Int32
}

// newDocServer starts a server whose handler gets, besides the request,
// the client id the request's URL stands for.
func newDocServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, clientID string)) *docServer {
	t.Helper()
	s := &docServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r, s.URL+r.URL.RequestURI())
	}))
	t.Cleanup(s.Close)
	return s
}

// fetcher returns a fetcher that trusts the server and may reach loopback.
func (s *docServer) fetcher(opts cimdOptions) *cimdFetcher {
	opts.AllowPrivate = true
	opts.RootCAs = x509.NewCertPool()
	opts.RootCAs.AddCert(s.Certificate())
	return newCIMDFetcher(opts)
}

// serveDoc serves a valid document for clientID with extra fields (nil
// values delete a field) and headers.
func serveDoc(w http.ResponseWriter, clientID string, extra map[string]any, headers ...string) {
	doc := map[string]any{
		"client_id":     clientID,
		"client_name":   "Example MCP Client",
		"redirect_uris": []string{"http://127.0.0.1/callback"},
	}
	for k, v := range extra {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Set(headers[i], headers[i+1])
	}
	json.NewEncoder(w).Encode(doc)
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestFetchCIMD(t *testing.T) {
	t.Parallel()
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, id string) {
		if r.Header.Get("Accept") != "application/json" {
			http.Error(w, "want Accept: application/json", http.StatusNotAcceptable)
			return
		}
		serveDoc(w, id, map[string]any{"logo_uri": "https://client.example/logo.png", "jwks_uri": "https://client.example/jwks"})
	})
	id := srv.URL + "/oauth/client.json"
	md, err := srv.fetcher(cimdOptions{}).fetch(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := &ClientMetadata{
		ClientID:                id,
		ClientName:              "Example MCP Client",
		LogoURI:                 "https://client.example/logo.png",
		RedirectURIs:            []string{"http://127.0.0.1/callback"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "none",
	}
	if diff := cmp.Diff(want, md); diff != "" {
		t.Errorf("fetch (-want +got):\n%s", diff)
	}
}

func TestFetchCIMDRefusesLoopbackBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	srv := newDocServer(t, func(w http.ResponseWriter, _ *http.Request, id string) { serveDoc(w, id, nil) })
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	f := newCIMDFetcher(cimdOptions{RootCAs: pool}) // AllowPrivate false, as in production

	_, err := f.fetch(t.Context(), srv.URL+"/client.json")
	if !errors.Is(err, safehttp.ErrForbiddenAddress) || !strings.Contains(err.Error(), "loopback address") {
		t.Errorf("fetch = %v, want a refused loopback address", err)
	}
	plainID := "http://" + srv.Listener.Addr().String() + "/client.json"
	if _, err := f.fetch(t.Context(), plainID); err == nil || !strings.Contains(err.Error(), "not a client ID metadata document URL") {
		t.Errorf("fetch(%s) = %v, want refused", plainID, err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("the server received %d requests, want none", n)
	}
}

func TestFetchCIMDDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	target := newDocServer(t, func(w http.ResponseWriter, _ *http.Request, id string) { serveDoc(w, id, nil) })
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		http.Redirect(w, r, target.URL+"/client.json", http.StatusFound)
	})
	_, err := srv.fetcher(cimdOptions{}).fetch(t.Context(), srv.URL+"/client.json")
	want := fmt.Sprintf("client metadata document %s/client.json: status 302 Found, want 200 OK (redirects are not followed", srv.URL)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("fetch = %v, want %q", err, want)
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("the redirect target received %d requests, want none", n)
	}
}

func TestFetchCIMDRefusesBadDocuments(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", cimdDefaultMaxBytes)
	responses := map[string]func(w http.ResponseWriter, id string){
		"/wrong-id": func(w http.ResponseWriter, id string) {
			serveDoc(w, id, map[string]any{"client_id": "https://evil.example/client.json"})
		},
		"/no-id": func(w http.ResponseWriter, id string) { serveDoc(w, id, map[string]any{"client_id": nil}) },
		"/html": func(w http.ResponseWriter, id string) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html></html>")
		},
		"/no-type": func(w http.ResponseWriter, id string) {
			w.Header()["Content-Type"] = nil
			fmt.Fprintf(w, `{"client_id":%q}`, id)
		},
		"/not-json": func(w http.ResponseWriter, id string) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, "{client_id: 1}")
		},
		"/array": func(w http.ResponseWriter, id string) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `[{"client_id":%q}]`, id)
		},
		"/null": func(w http.ResponseWriter, id string) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, "null")
		},
		"/two-objects": func(w http.ResponseWriter, id string) { serveDoc(w, id, nil); serveDoc(w, id, nil) },
		"/secret":      func(w http.ResponseWriter, id string) { serveDoc(w, id, map[string]any{"client_secret": "s3cret"}) },
		"/secret-exp":  func(w http.ResponseWriter, id string) { serveDoc(w, id, map[string]any{"client_secret_expires_at": 0}) },
		"/basic-auth": func(w http.ResponseWriter, id string) {
			serveDoc(w, id, map[string]any{"token_endpoint_auth_method": "client_secret_basic"})
		},
		"/no-redirect": func(w http.ResponseWriter, id string) { serveDoc(w, id, map[string]any{"redirect_uris": nil}) },
		"/js-redirect": func(w http.ResponseWriter, id string) {
			serveDoc(w, id, map[string]any{"redirect_uris": []string{"javascript:alert(1)"}})
		},
		"/missing": func(w http.ResponseWriter, id string) { http.NotFound(w, nil) },
		"/huge":    func(w http.ResponseWriter, id string) { serveDoc(w, id, map[string]any{"padding": big}) },
	}
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, id string) { responses[r.URL.Path](w, id) })
	f := srv.fetcher(cimdOptions{})
	tests := map[string]struct{ code, want string }{
		"/wrong-id":    {"invalid_client_metadata", `client_id in the document is "https://evil.example/client.json", want the URL`},
		"/no-id":       {"invalid_client_metadata", `client_id in the document is "", want the URL`},
		"/html":        {"invalid_client_metadata", `content type "text/html", want application/json`},
		"/no-type":     {"invalid_client_metadata", `content type "", want application/json`},
		"/not-json":    {"invalid_client_metadata", "not a valid JSON object of client metadata"},
		"/array":       {"invalid_client_metadata", "must be a JSON object"},
		"/null":        {"invalid_client_metadata", "must be a JSON object"},
		"/two-objects": {"invalid_client_metadata", "must be a single JSON object, with nothing after it"},
		"/secret":      {"invalid_client_metadata", "client_secret and client_secret_expires_at must not appear"},
		"/secret-exp":  {"invalid_client_metadata", "client_secret and client_secret_expires_at must not appear"},
		"/basic-auth":  {"invalid_client_metadata", `token_endpoint_auth_method: "client_secret_basic" is not supported: use none`},
		"/no-redirect": {"invalid_redirect_uri", "redirect_uris: at least one is required"},
		"/js-redirect": {"invalid_redirect_uri", `scheme "javascript" is not allowed`},
		"/missing":     {"", "status 404 Not Found, want 200 OK"},
		"/huge":        {"", "exceeds the limit of 5120 bytes"},
	}
	for path, tt := range tests {
		id := srv.URL + path
		_, err := f.fetch(t.Context(), id)
		var me *metadataError
		switch {
		case err == nil || !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: fetch = %v, want an error saying %q", path, err, tt.want)
		case !strings.HasPrefix(strings.TrimPrefix(err.Error(), tt.code+": "), "client metadata document"):
			t.Errorf("%s: %q does not say it is about the client metadata document", path, err)
		case tt.code != "" && (!errors.As(err, &me) || me.Code != tt.code || !strings.HasPrefix(me.Description, "client metadata document "+id+": ")):
			t.Errorf("%s: fetch = %#v, want a metadataError %s about %s", path, err, tt.code, id)
		case tt.code == "" && errors.As(err, &me):
			t.Errorf("%s: fetch = %#v, want an error that is not about the document's content", path, err)
		}
	}
}

func TestFetchCIMDAcceptsJSONTypes(t *testing.T) {
	t.Parallel()
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, id string) {
		serveDoc(w, id, nil, "Content-Type", r.URL.Query().Get("type"))
	})
	f := srv.fetcher(cimdOptions{})
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON", "application/oauth-client-metadata+json"} {
		if _, err := f.fetch(t.Context(), srv.URL+"/client.json?type="+url.QueryEscape(ct)); err != nil {
			t.Errorf("content type %q: %v", ct, err)
		}
	}
}

func TestFetchCIMDSlowDocument(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newDocServer(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"client_id":`))
		w.(http.Flusher).Flush()
		<-release // never finishes the document
	})
	t.Cleanup(func() { close(release) }) // before srv.Close
	_, err := srv.fetcher(cimdOptions{Timeout: 100 * time.Millisecond}).fetch(t.Context(), srv.URL+"/client.json")
	if err == nil || !strings.Contains(err.Error(), "no complete response within 100ms") {
		t.Errorf("fetch = %v, want a timeout", err)
	}
}

func TestFetchCIMDCaching(t *testing.T) {
	t.Parallel()
	date := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	type step struct {
		advance  time.Duration
		wantHits int32
	}
	tests := map[string]struct {
		headers []string
		steps   []step
	}{
		"max-age": {[]string{"Cache-Control", "public, max-age=600"},
			[]step{{0, 1}, {599 * time.Second, 1}, {2 * time.Second, 2}}},
		"max-age less Age": {[]string{"Cache-Control", "max-age=600", "Age", "500"},
			[]step{{0, 1}, {99 * time.Second, 1}, {2 * time.Second, 2}}},
		"smallest max-age": {[]string{"Cache-Control", "max-age=900, max-age=120"},
			[]step{{0, 1}, {119 * time.Second, 1}, {2 * time.Second, 2}}},
		"no-store": {[]string{"Cache-Control", "max-age=600, no-store"},
			[]step{{0, 1}, {0, 2}, {0, 3}}},
		"no-cache": {[]string{"Cache-Control", "No-Cache"},
			[]step{{0, 1}, {0, 2}}},
		"no headers: 5 minutes": {nil,
			[]step{{0, 1}, {5*time.Minute - time.Second, 1}, {2 * time.Second, 2}}},
		"below MinTTL": {[]string{"Cache-Control", "max-age=1"},
			[]step{{0, 1}, {59 * time.Second, 1}, {2 * time.Second, 2}}},
		"max-age=0 is MinTTL": {[]string{"Cache-Control", "max-age=0"},
			[]step{{0, 1}, {59 * time.Second, 1}, {2 * time.Second, 2}}},
		"above MaxTTL": {[]string{"Cache-Control", "max-age=99999999999"},
			[]step{{0, 1}, {24*time.Hour - time.Second, 1}, {2 * time.Second, 2}}},
		"Expires less Date": {[]string{"Date", date.Format(http.TimeFormat), "Expires", date.Add(10 * time.Minute).Format(http.TimeFormat)},
			[]step{{0, 1}, {10*time.Minute - time.Second, 1}, {2 * time.Second, 2}}},
		"max-age over Expires": {[]string{"Cache-Control", "max-age=120", "Expires", date.Add(time.Hour).Format(http.TimeFormat)},
			[]step{{0, 1}, {119 * time.Second, 1}, {2 * time.Second, 2}}},
		"invalid Expires is MinTTL": {[]string{"Expires", "0"},
			[]step{{0, 1}, {59 * time.Second, 1}, {2 * time.Second, 2}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newDocServer(t, func(w http.ResponseWriter, _ *http.Request, id string) { serveDoc(w, id, nil, tt.headers...) })
			clock := newTestClock()
			f := srv.fetcher(cimdOptions{Now: clock.now})
			for i, s := range tt.steps {
				clock.advance(s.advance)
				if _, err := f.fetch(t.Context(), srv.URL+"/client.json"); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if n := srv.hits.Load(); n != s.wantHits {
					t.Errorf("step %d (+%v): %d requests, want %d", i, s.advance, n, s.wantHits)
				}
			}
		})
	}
}

func TestFetchCIMDFailureBackoff(t *testing.T) {
	t.Parallel()
	var broken atomic.Bool
	broken.Store(true)
	srv := newDocServer(t, func(w http.ResponseWriter, _ *http.Request, id string) {
		if broken.Load() {
			http.Error(w, "oops", http.StatusInternalServerError)
			return
		}
		serveDoc(w, id, nil)
	})
	clock := newTestClock()
	f := srv.fetcher(cimdOptions{Now: clock.now})
	id := srv.URL + "/client.json"
	if _, err := f.fetch(t.Context(), id); err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Fatalf("fetch = %v, want status 500", err)
	}
	broken.Store(false)
	clock.advance(29 * time.Second)
	_, err := f.fetch(t.Context(), id)
	if err == nil || !strings.Contains(err.Error(), "status 500") || !strings.Contains(err.Error(), "a recent failure: not fetched again before") {
		t.Errorf("fetch within the backoff = %v, want the recent failure", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d requests within the backoff, want 1", n)
	}
	clock.advance(2 * time.Second)
	if _, err := f.fetch(t.Context(), id); err != nil || srv.hits.Load() != 2 {
		t.Errorf("fetch after the backoff = %v with %d requests, want the document with 2", err, srv.hits.Load())
	}
}

func TestFetchCIMDCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := map[string]int{}
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, id string) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		serveDoc(w, id, nil)
	})
	f := srv.fetcher(cimdOptions{CacheSize: 2})
	for _, p := range []string{"/a", "/b", "/a", "/c", "/a", "/b"} { // /c evicts /b, then /b evicts /c
		if _, err := f.fetch(t.Context(), srv.URL+p); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(map[string]int{"/a": 1, "/b": 2, "/c": 1}, hits); diff != "" {
		t.Errorf("requests per document (-want +got):\n%s", diff)
	}
}

// blockingDocServer serves documents (not cached: no-store) once released,
// and reports each request's arrival.
func blockingDocServer(t *testing.T) (srv *docServer, arrived <-chan string, release func()) {
	t.Helper()
	arrivals := make(chan string, 2*cimdMaxInFlight)
	released := make(chan struct{})
	srv = newDocServer(t, func(w http.ResponseWriter, r *http.Request, id string) {
		arrivals <- r.URL.Path
		<-released
		serveDoc(w, id, nil, "Cache-Control", "no-store")
	})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	t.Cleanup(release) // before srv.Close
	return srv, arrivals, release
}

func TestFetchCIMDCollapsesConcurrentFetches(t *testing.T) {
	t.Parallel()
	srv, arrived, release := blockingDocServer(t)
	f := srv.fetcher(cimdOptions{})
	joined := make(chan string)
	f.joined = joined
	id := srv.URL + "/client.json"

	const callers = 8
	results := make(chan error, callers)
	for range callers {
		go func() {
			md, err := f.fetch(t.Context(), id)
			if err == nil && md.ClientID != id {
				err = fmt.Errorf("got the document of %s", md.ClientID)
			}
			results <- err
		}()
	}
	<-arrived // one caller's request is under way and held
	for range callers - 1 {
		select {
		case <-joined:
		case p := <-arrived:
			t.Fatalf("a second request for %s while the first was under way", p)
		}
	}
	release()
	for range callers {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestFetchCIMDBoundsFetchesInFlight(t *testing.T) {
	t.Parallel()
	srv, arrived, release := blockingDocServer(t)
	f := srv.fetcher(cimdOptions{})
	var wg sync.WaitGroup
	for i := range cimdMaxInFlight {
		wg.Go(func() {
			if _, err := f.fetch(t.Context(), fmt.Sprintf("%s/client-%d.json", srv.URL, i)); err != nil {
				t.Error(err)
			}
		})
	}
	for range cimdMaxInFlight {
		<-arrived
	}
	_, err := f.fetch(t.Context(), srv.URL+"/one-too-many.json")
	if err == nil || !strings.Contains(err.Error(), "32 documents are being fetched already: try again shortly") {
		t.Errorf("fetch beyond the bound = %v, want refused", err)
	}
	release()
	wg.Wait()
	if _, err := f.fetch(t.Context(), srv.URL+"/one-too-many.json"); err != nil {
		t.Errorf("fetch once the others finished: %v", err)
	}
}

// A caller that gives up does not cut short the fetch other callers (and
// the cache) wait for.
func TestFetchCIMDCallerCancellation(t *testing.T) {
	t.Parallel()
	var arrivals atomic.Int32
	arrived := make(chan struct{})
	released := make(chan struct{})
	srv := newDocServer(t, func(w http.ResponseWriter, _ *http.Request, id string) {
		if arrivals.Add(1) == 1 {
			close(arrived)
		}
		<-released
		serveDoc(w, id, nil)
	})
	f := srv.fetcher(cimdOptions{})
	id := srv.URL + "/client.json"
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := f.fetch(ctx, id)
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled caller got %v, want context.Canceled", err)
	}
	close(released)
	if _, err := f.fetch(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1: the first fetch should have finished for the cache", n)
	}
}

func TestIsCIMDClientID(t *testing.T) {
	t.Parallel()
	tests := map[string][2]bool{ // {without, with allowPrivate}
		"https://client.example.com/oauth/client.json":            {true, true},
		"https://client.example.com:8443/client":                  {true, true},
		"https://client.example.com/":                             {true, true},
		"https://client.example.com/c?v=1":                        {true, true},
		"https://127.0.0.1/client.json":                           {true, true}, // the fetch refuses the address
		"http://127.0.0.1:8080/client.json":                       {false, true},
		"http://localhost/client.json":                            {false, true},
		"http://client.example.com/client.json":                   {false, false},
		"https://client.example.com":                              {false, false},
		"https://client.example.com/client.json#x":                {false, false},
		"https://client.example.com/client.json#":                 {false, false},
		"https://user@client.example.com/client.json":             {false, false},
		"https://user:pw@client.example.com/c":                    {false, false},
		"https://client.example.com/a/../client.json":             {false, false},
		"https://client.example.com/./client.json":                {false, false},
		"https://client.example.com/a/..":                         {false, false},
		"https://client.example.com/a/%2e%2E/c":                   {false, false},
		"https://client.example.com/a/%2e/c":                      {false, false},
		"https://client.example.com/a/%zz":                        {false, false},
		"https:///client.json":                                    {false, false},
		"https:client.json":                                       {false, false},
		"ftp://client.example.com/client.json":                    {false, false},
		"client.example.com/client.json":                          {false, false},
		"https://client.example.com/" + strings.Repeat("a", 2000): {false, false},
		"https://client.example.com/ client.json":                 {false, false},
		"4f8b2c1e-random-dcr-id":                                  {false, false},
		"":                                                        {false, false},
	}
	for id, want := range tests {
		if got := [2]bool{isCIMDClientID(id, false), isCIMDClientID(id, true)}; got != want {
			t.Errorf("isCIMDClientID(%q) = %v (without, with allowPrivate), want %v", id, got, want)
		}
	}
}

// Whatever a document holds, an accepted one is the client it says it is,
// with redirect URIs that may be registered.
func FuzzParseCIMD(f *testing.F) {
	const id = "https://client.example.com/client.json"
	for _, s := range []string{
		`{"client_id":"` + id + `","redirect_uris":["http://127.0.0.1/cb"]}`,
		`{"client_id":"` + id + `","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none","x":[1,{}]}`,
		`{"client_id":"` + id + `","redirect_uris":["http://127.0.0.1/cb"],"CLIENT_SECRET":"x"}`,
		`[]`, `null`, `{} {}`, `{"client_id":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := &safehttp.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}
		md, err := parseCIMD(id, resp)
		if err != nil {
			return
		}
		if md.ClientID != id || md.TokenEndpointAuthMethod != "none" || len(md.RedirectURIs) == 0 {
			t.Errorf("accepted %+v", md)
		}
		for _, u := range md.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				t.Errorf("accepted redirect URI %q: %v", u, err)
			}
		}
		var fields map[string]any
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatalf("accepted a document encoding/json cannot read as an object: %v", err)
		}
		for k := range fields {
			if strings.EqualFold(k, "client_secret") || strings.EqualFold(k, "client_secret_expires_at") {
				t.Errorf("accepted a document with %q: %s", k, body)
			}
		}
	})
}
