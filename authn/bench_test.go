package authn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkVerifyCached is the hot path: a token seen before.
func BenchmarkVerifyCached(b *testing.B) {
	benchVerify(b, func(e *testEnv) func(context.Context, string) (*Identity, error) { return e.v.Verify })
}

// BenchmarkVerifyUncached is a first sight of an RS256 token, keys cached.
func BenchmarkVerifyUncached(b *testing.B) {
	benchVerify(b, func(e *testEnv) func(context.Context, string) (*Identity, error) { return e.v.VerifyUncached })
}

// benchVerify measures verify on one valid token, after a first Verify has
// fetched the keys (and cached the token).
func benchVerify(b *testing.B, verify func(*testEnv) func(context.Context, string) (*Identity, error)) {
	e := newTestEnv(b, nil)
	tok := e.token("alice", nil)
	if _, err := e.v.Verify(b.Context(), tok); err != nil {
		b.Fatal(err)
	}
	f := verify(e)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMiddlewareCached is the bearer middleware around a no-op handler
// for a cached token, including go-sdk's TokenInfo wrapping.
func BenchmarkMiddlewareCached(b *testing.B) {
	e := newTestEnv(b, nil)
	h := Middleware(e.v, MiddlewareOptions{ResourceMetadataURL: testMetadataURL, Logger: e.logs.logger()})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+e.token("alice", nil))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
