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
// the POSTed JSON-RPC requests (messages with an id and a method) of
// signed-in callers, each message of a batch; notifications and answers
// to the gateway's own requests (an elicitation's) are not.

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

// forgetIdle drops the buckets that are full again (they are the same as
// new ones); when that frees less than a tenth of the table, the whole
// table starts over, so that a sweep, which holds the limit's lock, is
// paid for by a tenth of the table's inserts, and the table never grows
// past its bound. Keys are of signed-in users and of the catalog's tools
// and servers: nobody makes them up.
func (l *rateLimiter) forgetIdle(now time.Time) {
	burst := float64(l.rule.EffectiveBurst())
	for k, b := range l.buckets {
		if b.TokensAt(now) >= burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) > l.maxKeys-max(1, l.maxKeys/10) {
		clear(l.buckets)
	}
}

// rateKey is the key of a request (a message with method and params)
// under a limit, or "" when the limit does not apply to it: a request that
// names no tool of the catalog (user_tool, server: a made-up name reaches
// no upstream, and must not make a key), a token without a client id
// (client: those tokens' callers are told apart by the user limit).
func (g *Gateway) rateKey(per string, id *authn.Identity, method, name string) string {
	switch per {
	case config.RatePerUser:
		return id.Issuer + "\x00" + id.Subject
	case config.RatePerClient:
		if id.ClientID != "" {
			return id.Issuer + "\x00" + id.ClientID
		}
	case config.RatePerUserTool:
		if method == "tools/call" && g.catalog().tool(name) != nil {
			return id.Issuer + "\x00" + id.Subject + "\x00" + name
		}
	case config.RatePerServer:
		if s := g.targetServer(method, name); s != "" {
			return s
		}
	}
	return ""
}

// targetName is the name (a tool's, a prompt's) or URI a request's params
// carry.
func targetName(params json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	if len(params) == 0 || json.Unmarshal(params, &p) != nil {
		return ""
	}
	if p.Name != "" {
		return p.Name
	}
	return p.URI
}

// targetServer is the upstream a call, prompt or read of name goes to, as
// the catalog resolves it; "" for other requests and unknown names (which
// reach no upstream).
func (g *Gateway) targetServer(method, name string) string {
	if name == "" {
		return ""
	}
	cat := g.catalog()
	switch method {
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
// and Retry-After; the others go on. Each request message counts, those
// of a batch one by one; answers and notifications do not.
func (g *Gateway) rateLimit(next http.Handler) http.Handler {
	if len(g.limiters) == 0 {
		return next
	}
	// Only the limits per tool or server read the target's name.
	needName := false
	for _, l := range g.limiters {
		needName = needName || l.rule.Per == config.RatePerUserTool || l.rule.Per == config.RatePerServer
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := envelopeOf(r.Context())
		id, _ := authn.FromContext(r.Context())
		if r.Method != http.MethodPost || e == nil || id == nil {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		var taken []*rate.Reservation
		requests := requestMessages(e)
		for _, m := range requests {
			var name string
			if needName {
				name = targetName(m.Params) // read once, for every limit
			}
			for _, l := range g.limiters {
				key := g.rateKey(l.rule.Per, id, m.Method, name)
				if key == "" {
					continue
				}
				res, wait := l.reserve(key, now)
				if res != nil {
					taken = append(taken, res)
					continue
				}
				for _, t := range taken {
					t.CancelAt(now) // refused: every limit gets its tokens back
				}
				g.opts.Metrics.RecordLimit(r.Context(), telemetry.LimitRatePrefix+l.rule.Per, telemetry.LimitActionRefused)
				secs := max(1, int(math.Ceil(wait.Seconds())))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				msg := fmt.Sprintf("mcpgate: too many requests: the limit of %d per minute per %s (limits.rate) is reached; retry in %d s",
					l.rule.RequestsPerMinute, l.rule.Per, secs)
				if !isBatch(e.Body) {
					writeJSONRPCErrorID(w, http.StatusTooManyRequests, e.ID, -32000, msg)
					return
				}
				// A batch is refused whole (no request of it reaches policy
				// or an upstream, no limit keeps a token of it), and answered
				// as a batch is (JSON-RPC 2.0 §6): an array with an error
				// for each of its requests, none for its notifications.
				ids := make([]json.RawMessage, len(requests))
				for i, m := range requests {
					ids[i] = m.ID
				}
				writeJSONRPCErrorsID(w, http.StatusTooManyRequests, ids, -32000, msg+" (the whole batch was refused)")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// rpcMessage is one JSON-RPC message as the rate limits read it.
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// requestMessages are the requests (an id and a method) of e's body: the
// message itself, or each of a batch's. Answers (an id, no method) and
// notifications (no id) are not requests.
func requestMessages(e *envelope) []rpcMessage {
	isRequest := func(m rpcMessage) bool {
		return m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null"
	}
	if !isBatch(e.Body) {
		m := rpcMessage{ID: e.ID, Method: e.Method, Params: e.Params}
		if isRequest(m) {
			return []rpcMessage{m}
		}
		return nil
	}
	var batch []json.RawMessage
	if json.Unmarshal(e.Body, &batch) != nil {
		return nil // not JSON: the SDK refuses it whole
	}
	var out []rpcMessage
	for _, raw := range batch {
		// One by one: an element that does not read as a message (the SDK
		// refuses that one alone) must not hide the others.
		var m rpcMessage
		if json.Unmarshal(raw, &m) == nil && isRequest(m) {
			out = append(out, m)
		}
	}
	return out
}

// isBatch reports whether body is a JSON array (a 2025-03-26 batch).
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
