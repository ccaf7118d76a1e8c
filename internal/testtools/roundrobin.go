package testtools

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// RoundRobin is a reverse proxy on loopback that sends each request to the
// next of its backends in turn, as a Kubernetes Service without session
// affinity does with new connections. A backend can be taken out of the
// rotation (its endpoint removed), and a request whose connection to a
// backend cannot be made is sent to the next one, as load balancers do
// for connect errors (nothing reached the backend). Responses are streamed
// as they come (event streams).
type RoundRobin struct {
	URL string // the proxy's base URL

	mu       sync.Mutex
	backends []string // base URLs, in rotation order
	removed  map[string]bool
	next     int
	served   map[string]int // requests answered, by backend
}

// StartRoundRobin starts a proxy over the backend base URLs.
func StartRoundRobin(t testing.TB, backends ...string) *RoundRobin {
	t.Helper()
	rr := &RoundRobin{backends: backends, removed: map[string]bool{}, served: map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(rr.serve))
	t.Cleanup(hs.Close)
	rr.URL = hs.URL
	return rr
}

// Add puts a backend into the rotation.
func (rr *RoundRobin) Add(backend string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.backends = append(rr.backends, backend)
	delete(rr.removed, backend)
}

// Remove takes a backend out of the rotation.
func (rr *RoundRobin) Remove(backend string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.removed[backend] = true
}

// Served returns how many requests each backend answered.
func (rr *RoundRobin) Served() map[string]int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	out := make(map[string]int, len(rr.served))
	for k, v := range rr.served {
		out[k] = v
	}
	return out
}

// pick returns the next backend in the rotation, skipping removed ones and
// those in tried.
func (rr *RoundRobin) pick(tried map[string]bool) string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for range rr.backends {
		b := rr.backends[rr.next%len(rr.backends)] // the loop does not run on an empty list
		rr.next++
		if !rr.removed[b] && !tried[b] {
			return b
		}
	}
	return ""
}

func (rr *RoundRobin) serve(w http.ResponseWriter, r *http.Request) {
	// Buffer the body so that a request can be sent to another backend
	// after a connect error.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "round robin: "+err.Error(), http.StatusBadRequest)
		return
	}
	tried := map[string]bool{}
	for {
		backend := rr.pick(tried)
		if backend == "" {
			http.Error(w, "round robin: no backend available", http.StatusBadGateway)
			return
		}
		tried[backend] = true
		target, err := url.Parse(backend)
		if err != nil {
			http.Error(w, "round robin: "+err.Error(), http.StatusInternalServerError)
			return
		}
		var dialErr bool
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host
			},
			FlushInterval: -1,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				var op *net.OpError
				if errors.As(err, &op) && op.Op == "dial" {
					dialErr = true
					return
				}
				w.WriteHeader(http.StatusBadGateway)
			},
		}
		out := r.Clone(r.Context())
		out.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, out)
		if !dialErr {
			rr.mu.Lock()
			rr.served[backend]++
			rr.mu.Unlock()
			return
		}
	}
}
