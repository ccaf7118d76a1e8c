package authserver

import (
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

// Per-address rates of the endpoints anyone can call without a client
// secret or a session, each of which writes to the store: an address
// cannot fill the store (or the decision log) faster than this. They are
// per replica; a person signing in needs a handful of requests.
const (
	registerRate  = rate.Limit(10.0 / 60) // registrations per second per address
	registerBurst = 20
	signInRate    = rate.Limit(1) // sign-ins started per second per address
	signInBurst   = 30
	maxAddresses  = 10000 // addresses tracked per limiter before it starts afresh
)

// addressLimiter is a token bucket per client address.
type addressLimiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
}

func newAddressLimiter(limit rate.Limit, burst int) *addressLimiter {
	return &addressLimiter{limit: limit, burst: burst, buckets: map[string]*rate.Limiter{}}
}

// allow reports whether addr may make one more request now.
func (l *addressLimiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= maxAddresses {
			// Bounded memory: forgetting every bucket at once only ever
			// lets the tracked addresses start with a full burst again.
			l.buckets = map[string]*rate.Limiter{}
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[addr] = b
	}
	return b.Allow()
}

// tooMany answers a request over its address's rate.
func tooMany(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "60")
	writeOAuthError(w, &oauthError{Code: "slow_down", Description: "too many requests from this address: try again in a minute", status: http.StatusTooManyRequests})
}
