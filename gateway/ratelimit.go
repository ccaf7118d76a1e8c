package gateway

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/telemetry"
)

// Rate limits (limits.rate): a token bucket per key of each configured
// limit. A request over any of them is answered HTTP 429 with Retry-After
// before anything else sees it: no decision, no upstream call. Counted are
// the POSTed JSON-RPC requests (messages with an id) of signed-in callers;
// notifications and answers to the gateway's own requests are not.

// rateKeys is the number of keys one limit keeps before it forgets the
// idle ones (a key whose bucket is full again is the same as a new one).
const rateKeys = 100_000

type rateLimiter struct {
	rule    config.RateLimit
	limit   rate.Limit
	maxKeys int // rateKeys; smaller in tests
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newRateLimiters(rules []config.RateLimit) []*rateLimiter {
	out := make([]*rateLimiter, 0, len(rules))
	for _, r := range rules {
		out = append(out, &rateLimiter{rule: r, limit: rate.Limit(float64(r.RequestsPerMinute) / 60), maxKeys: rateKeys,
			buckets: map[string]*rate.Limiter{}})
	}
	return out
}

// reserve takes one token of key's bucket at now and returns it (so that
// a request refused by another limit can give it back), or says how long
// until one is there, taking nothing.
func (l *rateLimiter) reserve(key string, now time.Time) (*rate.Reservation, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			l.forgetIdle(now)
		}
		b = rate.NewLimiter(l.limit, l.rule.EffectiveBurst())
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d
	}
	return r, 0
}

// forgetIdle drops the buckets that are full again; if none is, the whole
// table starts over (a flood of new keys must not grow it without bound).
func (l *rateLimiter) forgetIdle(now time.Time) {
	burst := float64(l.rule.EffectiveBurst())
	for k, b := range l.buckets {
		if b.TokensAt(now) >= burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.maxKeys {
		clear(l.buckets)
	}
}

// rateKey is the key of a request under a limit, or "" when the limit
// does not apply to it (a request that names no tool, for user_tool).
func (g *Gateway) rateKey(per string, id *authn.Identity, e *envelope) string {
	switch per {
	case config.RatePerUser:
		return id.Issuer + "\x00" + id.Subject
	case config.RatePerClient:
		return id.Issuer + "\x00" + id.ClientID
	case config.RatePerUserTool:
		if name := e.targetName(); e.Method == "tools/call" && name != "" {
			return id.Issuer + "\x00" + id.Subject + "\x00" + name
		}
	case config.RatePerServer:
		if s := g.targetServer(e); s != "" {
			return s
		}
	}
	return ""
}

// targetName is the name (a tool's, a prompt's) or URI a request's params
// carry.
func (e *envelope) targetName() string {
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	if len(e.Params) == 0 || json.Unmarshal(e.Params, &p) != nil {
		return ""
	}
	if p.Name != "" {
		return p.Name
	}
	return p.URI
}

// targetServer is the upstream a call, prompt or read goes to, as the
// catalog resolves its name; "" for other requests and unknown names
// (which reach no upstream).
func (g *Gateway) targetServer(e *envelope) string {
	name := e.targetName()
	if name == "" {
		return ""
	}
	cat := g.catalog()
	switch e.Method {
	case "tools/call":
		if t := cat.tool(name); t != nil {
			return t.up.cfg.Name
		}
	case "prompts/get":
		if p := cat.prompt(name); p != nil {
			return p.up.cfg.Name
		}
	case "resources/read":
		if r := cat.resource(name); r != nil {
			return r.up.cfg.Name
		}
		if t := cat.template(name); t != nil {
			return t.up.cfg.Name
		}
	}
	return ""
}

// rateLimit answers a request over a limit of limits.rate with HTTP 429
// and Retry-After; the others go on.
func (g *Gateway) rateLimit(next http.Handler) http.Handler {
	if len(g.limiters) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := envelopeOf(r.Context())
		id, _ := authn.FromContext(r.Context())
		if r.Method != http.MethodPost || e == nil || id == nil || (!e.hasID() && !isBatch(e.Body)) {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		taken := make([]*rate.Reservation, 0, len(g.limiters))
		for _, l := range g.limiters {
			key := g.rateKey(l.rule.Per, id, e)
			if key == "" {
				continue
			}
			res, wait := l.reserve(key, now)
			if res != nil {
				taken = append(taken, res)
				continue
			}
			for _, t := range taken {
				t.CancelAt(now) // refused: the other limits get their token back
			}
			g.opts.Metrics.RecordLimit(r.Context(), telemetry.LimitRatePrefix+l.rule.Per, telemetry.LimitActionRefused)
			secs := max(1, int(math.Ceil(wait.Seconds())))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeJSONRPCErrorID(w, http.StatusTooManyRequests, e.ID, -32000, fmt.Sprintf(
				"mcpgate: too many requests: the limit of %d per minute per %s (limits.rate) is reached; retry in %d s",
				l.rule.RequestsPerMinute, l.rule.Per, secs))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isBatch reports whether body is a JSON array (a 2025-03-26 batch): it
// counts as one request.
func isBatch(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '[':
			return true
		}
		return false
	}
	return false
}
