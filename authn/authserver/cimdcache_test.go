package authserver

import (
	"net/http"
	"testing"
)

// Whatever the caching headers say, a document is not kept, or kept for
// between MinTTL and MaxTTL.
func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=600", "no-store", `max-age="60", no-cache`, "max-age=99999999999999999999", "max-age=-1", "MAX-AGE = 5,,"} {
		f.Add(s, "10")
	}
	fetcher := newCIMDFetcher(cimdOptions{})
	f.Fuzz(func(t *testing.T, cc, age string) {
		ttl := fetcher.cacheTTL(http.Header{"Cache-Control": {cc}, "Age": {age}})
		if ttl != 0 && (ttl < cimdDefaultMinTTL || ttl > cimdDefaultMaxTTL) {
			t.Errorf("Cache-Control %q, Age %q: TTL %v outside [%v, %v]", cc, age, ttl, cimdDefaultMinTTL, cimdDefaultMaxTTL)
		}
	})
}
