package authn

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verified is what the cache keeps for a verified token.
type verified struct {
	id *Identity
	// userID binds go-sdk sessions to (issuer, subject); see bearer.go.
	userID string
	until  time.Time
}

type tokenKey [sha256.Size]byte

// keyBuffers hold tokens while they are hashed: sha256.Sum256([]byte(raw))
// copies the token (about a kilobyte) to the heap on every request.
var keyBuffers = sync.Pool{New: func() any { return new([]byte) }}

func keyOf(raw string) tokenKey {
	buf := keyBuffers.Get().(*[]byte)
	*buf = append((*buf)[:0], raw...)
	k := sha256.Sum256(*buf)
	clear(*buf)              // no bearer token left behind in pooled memory
	if cap(*buf) <= 16<<10 { // keep no giant token's buffer
		keyBuffers.Put(buf)
	}
	return k
}

// tokenCache maps SHA-256(raw token) to its verification result, for at most
// min(exp, verification time + MaxCacheTTL). Only successes are stored, so a
// refused token is always verified again (and refused again).
//
// Eviction is random: when full, a put samples a few entries, drops the
// expired ones among them, or else the first sampled. Hits take only the
// read lock; nothing is reordered on a hit, unlike an LRU.
type tokenCache struct {
	max int

	mu sync.RWMutex
	m  map[tokenKey]*verified
}

// evictSample is how many entries a full put looks at.
const evictSample = 8

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[tokenKey]*verified)}
}

func (c *tokenCache) get(k tokenKey, now time.Time) (*verified, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(v.until) {
		return nil, false
	}
	return v, true
}

func (c *tokenCache) put(k tokenKey, v *verified, now time.Time) {
	if !now.Before(v.until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		c.evict(now)
	}
	c.m[k] = v
}

// evict drops the expired entries among a random sample, or else one entry.
// Go's map iteration order is random, which makes the sample random.
func (c *tokenCache) evict(now time.Time) {
	var first tokenKey
	n, dropped := 0, false
	for k, v := range c.m {
		if n == 0 {
			first = k
		}
		if !now.Before(v.until) {
			delete(c.m, k)
			dropped = true
		}
		if n++; n == evictSample {
			break
		}
	}
	if !dropped {
		delete(c.m, first)
	}
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
