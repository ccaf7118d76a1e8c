package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/telemetry"
)

// DefaultUpstreamTokenMargin is how long before its expiry a client
// credentials token is replaced, when Options.UpstreamTokenMargin is zero.
const DefaultUpstreamTokenMargin = 30 * time.Second

// maxTokenErrorText bounds what of a token endpoint's error description
// goes into logs and /readyz.
const maxTokenErrorText = 200

// errTokenFetch marks a failed token request; the upstream is then
// unavailable until a request succeeds.
var errTokenFetch = errors.New("upstream token")

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
	server  string
	auth    *config.UpstreamAuth
	client  *http.Client
	margin  time.Duration
	metrics *telemetry.Metrics // nil: none
	tracer  trace.Tracer

	mu     sync.Mutex               // held across a fetch: concurrent callers wait for one
	tokens map[string]*oauth2.Token // by scope set, space-separated
}

func newClientCredentials(s config.Server, base http.RoundTripper, margin time.Duration, metrics *telemetry.Metrics, tp trace.TracerProvider) *clientCredentials {
	tokenURL, _ := url.Parse(s.Auth.TokenURL) // validated by config
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &clientCredentials{
		server:  s.Name,
		auth:    s.Auth,
		margin:  margin,
		metrics: metrics,
		tracer:  tp.Tracer("github.com/mcpgate/mcpgate/gateway"),
		client: &http.Client{
			Transport: base,
			Timeout:   time.Duration(s.Timeout),
			// A redirect to another host would carry the client's
			// credentials there (a 307 resends the form, Basic or not).
			CheckRedirect: func(r *http.Request, via []*http.Request) error {
				if r.URL.Host != tokenURL.Host || r.URL.Scheme != tokenURL.Scheme || len(via) > 2 {
					return fmt.Errorf("redirect to %s refused", r.URL.Redacted())
				}
				return nil
			},
		},
	}
}

// Token returns a token valid for at least the margin, fetching one if the
// cached one is missing or about to expire.
func (c *clientCredentials) Token(ctx context.Context) (string, error) {
	scopes := scopesFor(ctx, c.auth)
	key := strings.Join(scopes, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tokens[key]; t != nil && (t.Expiry.IsZero() || time.Until(t.Expiry) > c.margin) {
		c.metrics.RecordUpstreamToken(ctx, c.server, telemetry.UpstreamTokenCached)
		return t.AccessToken, nil
	}
	// A span per fetch (never per cached use): the server and the token
	// endpoint's host, never the client id's secret or the token.
	ctx, span := c.tracer.Start(ctx, "upstream.token", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(telemetry.AttrServer.String(c.server), attribute.String("mcpgate.upstream.credential", "client_credentials")))
	defer span.End()
	if u, err := url.Parse(c.auth.TokenURL); err == nil {
		span.SetAttributes(attribute.String("server.address", u.Hostname()))
	}
	tok, err := c.fetch(ctx, scopes)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		c.metrics.RecordUpstreamToken(ctx, c.server, telemetry.UpstreamTokenFailed)
		return "", err
	}
	c.metrics.RecordUpstreamToken(ctx, c.server, telemetry.UpstreamTokenFetched)
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
	for k, t := range c.tokens {
		if t.AccessToken == token {
			delete(c.tokens, k)
		}
	}
}

// fetch requests a new token, reading the client secret now so that a
// rotated file or variable takes effect. Errors name the server and the
// token URL, never the secret.
func (c *clientCredentials) fetch(ctx context.Context, scopes []string) (*oauth2.Token, error) {
	secret, err := c.auth.ClientSecret.Resolve()
	if err != nil {
		return nil, c.fail(fmt.Errorf("client secret: %w", err))
	}
	cc := clientcredentials.Config{
		ClientID:       c.auth.ClientID,
		ClientSecret:   secret,
		TokenURL:       c.auth.TokenURL,
		Scopes:         scopes,
		EndpointParams: url.Values{},
		AuthStyle:      oauth2.AuthStyleInHeader,
	}
	if c.auth.EffectiveAuthStyle() == config.AuthStylePost {
		cc.AuthStyle = oauth2.AuthStyleInParams
	}
	if c.auth.Audience != "" {
		cc.EndpointParams.Set("audience", c.auth.Audience)
	}
	if c.auth.Resource != "" {
		cc.EndpointParams.Set("resource", c.auth.Resource)
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, c.client))
	if err != nil {
		return nil, c.fail(describeTokenError(err))
	}
	if !strings.EqualFold(tok.Type(), "Bearer") {
		return nil, c.fail(fmt.Errorf("token type %q is not supported: only Bearer", tok.TokenType))
	}
	return tok, nil
}

func (c *clientCredentials) fail(err error) error {
	return fmt.Errorf("%w: server %q: client credentials from %s: %w", errTokenFetch, c.server, c.auth.TokenURL, err)
}

// describeTokenError words a token request's failure from the token
// endpoint's answer (status and RFC 6749 error code), leaving out the body
// that oauth2's own message quotes.
func describeTokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	msg := "token endpoint answered " + re.Response.Status
	if re.ErrorCode != "" {
		msg += ": " + re.ErrorCode
		if d := re.ErrorDescription; d != "" {
			msg += " (" + truncate(d, maxTokenErrorText) + ")"
		}
	}
	return errors.New(msg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
