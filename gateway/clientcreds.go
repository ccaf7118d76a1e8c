package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/telemetry"
)

// clientCredentials obtains and caches the bearer token the gateway sends
// to one upstream, with the OAuth 2.0 client credentials grant: a token per
// set of scopes policy decided (scopesFor), so that a call is never sent
// with more than its own decision granted. The cache outlives upstream
// sessions: a reconnect reuses a token still valid.
//
// The cache is ours rather than oauth2.ReuseTokenSourceWithExpiry because a
// fetch must be bounded by the caller's context (a connect's deadline, a
// call's cancellation), which an oauth2.TokenSource cannot take.
type clientCredentials struct {
	ep     *tokenEndpoint
	margin time.Duration

	mu     sync.Mutex               // held across a fetch: concurrent callers wait for one
	tokens map[string]*oauth2.Token // by scope set, space-separated
}

func newClientCredentials(s config.Server, base http.RoundTripper, margin time.Duration, metrics *telemetry.Metrics, tp trace.TracerProvider) *clientCredentials {
	return &clientCredentials{ep: newTokenEndpoint(s, base, metrics, tp), margin: margin}
}

// Token returns a token valid for at least the margin, fetching one if the
// cached one is missing or about to expire.
func (c *clientCredentials) Token(ctx context.Context) (string, error) {
	scopes := scopesFor(ctx, c.ep.auth)
	key := strings.Join(scopes, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tokens[key]; usable(t, c.margin) {
		c.ep.cached(ctx)
		return t.AccessToken, nil
	}
	tok, err := c.ep.request(ctx, scopes, nil)
	if err != nil {
		return "", err
	}
	if c.tokens == nil {
		c.tokens = map[string]*oauth2.Token{}
	}
	c.tokens[key] = tok
	return tok.AccessToken, nil
}

// Invalidate drops token from the cache (the upstream refused it), unless
// it was already replaced.
func (c *clientCredentials) Invalidate(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dropToken(c.tokens, token)
}

// dropToken deletes the entries of tokens whose access token is token.
func dropToken(tokens map[string]*oauth2.Token, token string) {
	for k, t := range tokens {
		if t.AccessToken == token {
			delete(tokens, k)
		}
	}
}
