package authserver

import (
	"container/list"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// cacheTTL returns how long a document may be used, from its caching
// headers (RFC 9111, as a private cache): not at all with no-store or
// no-cache (we do not revalidate, so no-cache means fetching again);
// otherwise max-age less Age, or else Expires less Date, or else
// cimdDefaultTTL, clamped to [minTTL, maxTTL] (the draft's §5.2 allows
// such bounds).
func (f *cimdFetcher) cacheTTL(h http.Header) time.Duration {
	cc := parseCacheControl(h.Values("Cache-Control"))
	if cc.noStore || cc.noCache {
		return 0
	}
	ttl := cimdDefaultTTL
	switch {
	case cc.maxAge != nil:
		ttl = *cc.maxAge - deltaSeconds(h.Get("Age"))
	case h.Get("Expires") != "":
		ttl = expiresIn(h, f.now())
	}
	return min(max(ttl, f.minTTL), f.maxTTL)
}

// cacheControl is what a fetcher uses of a Cache-Control header.
type cacheControl struct {
	noStore, noCache bool
	maxAge           *time.Duration // the smallest max-age given
}

// parseCacheControl parses Cache-Control header values (RFC 9111 §5.2).
// An invalid max-age counts as 0: the response is stale (§4.2.1).
func parseCacheControl(values []string) cacheControl {
	var cc cacheControl
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store":
				cc.noStore = true
			case "no-cache":
				cc.noCache = true
			case "max-age":
				age := deltaSeconds(strings.Trim(strings.TrimSpace(arg), `"`))
				if cc.maxAge == nil || age < *cc.maxAge {
					cc.maxAge = &age
				}
			}
		}
	}
	return cc
}

// deltaSeconds parses delta-seconds (RFC 9111 §1.2.2): 0 when invalid,
// capped at 2^31 seconds.
func deltaSeconds(s string) time.Duration {
	const maxDelta = 1 << 31
	switch {
	case s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' }):
		return 0
	case len(s) > 10:
		return maxDelta * time.Second
	}
	var n int64
	for _, r := range s {
		n = n*10 + int64(r-'0')
	}
	return time.Duration(min(n, maxDelta)) * time.Second
}

// expiresIn returns the lifetime an Expires header gives: Expires less
// Date (or less now without a valid Date); an invalid Expires is in the
// past (RFC 9111 §5.3).
func expiresIn(h http.Header, now time.Time) time.Duration {
	exp, err := http.ParseTime(h.Get("Expires"))
	if err != nil {
		return 0
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	return exp.Sub(now)
}

// cimdEntry is a cached document, or a recent failure.
type cimdEntry struct {
	clientID string
	md       *ClientMetadata
	err      error
	expires  time.Time
}

func (e *cimdEntry) result() (*ClientMetadata, error) {
	if e.err != nil {
		return nil, fmt.Errorf("%w (a recent failure: not fetched again before %s)", e.err, e.expires.UTC().Format(time.RFC3339))
	}
	return e.md.clone(), nil
}

// cimdCache holds the most recently used entries, at most max.
type cimdCache struct {
	max   int
	order *list.List // of *cimdEntry, most recently used first
	byID  map[string]*list.Element
}

func newCIMDCache(max int) *cimdCache {
	if max < 1 {
		max = cimdDefaultCacheSize
	}
	return &cimdCache{max: max, order: list.New(), byID: make(map[string]*list.Element)}
}

// get returns the entry of clientID unless it has expired at now.
func (c *cimdCache) get(clientID string, now time.Time) (*cimdEntry, bool) {
	el, ok := c.byID[clientID]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cimdEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.byID, clientID)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e, true
}

// put adds or replaces e's entry, evicting the least recently used.
func (c *cimdCache) put(e *cimdEntry) {
	if el, ok := c.byID[e.clientID]; ok {
		c.order.Remove(el)
	}
	c.byID[e.clientID] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		old := c.order.Remove(c.order.Back()).(*cimdEntry)
		delete(c.byID, old.clientID)
	}
}
