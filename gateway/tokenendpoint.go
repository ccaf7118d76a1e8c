package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
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

// DefaultUpstreamTokenMargin is how long before its expiry an upstream
// token (client credentials, token exchange) is replaced, when
// Options.UpstreamTokenMargin is zero.
const DefaultUpstreamTokenMargin = 30 * time.Second

// maxTokenErrorText bounds what of a token endpoint's error description
// goes into logs and /readyz.
const maxTokenErrorText = 200

// errTokenFetch marks a failed token request; the upstream is then
// unavailable until a request succeeds.
var errTokenFetch = errors.New("upstream token")

// tokenEndpoint is the token endpoint of one upstream's authorization
// server (servers[].auth of kind client_credentials or token_exchange):
// the HTTP client that never follows a redirect to another host, the
// client authentication, and a span and a metric per request.
type tokenEndpoint struct {
	server  string
	kind    string // servers[].auth.kind, for spans and errors
	auth    *config.UpstreamAuth
	client  *http.Client
	metrics *telemetry.Metrics // nil: none
	tracer  trace.Tracer
	// check, if set, refuses a token the grant did not ask for.
	check func(*oauth2.Token) error
}

func newTokenEndpoint(s config.Server, base http.RoundTripper, metrics *telemetry.Metrics, tp trace.TracerProvider) *tokenEndpoint {
	tokenURL, _ := url.Parse(s.Auth.TokenURL) // validated by config
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &tokenEndpoint{
		server:  s.Name,
		kind:    s.Auth.Kind,
		auth:    s.Auth,
		metrics: metrics,
		tracer:  tp.Tracer("github.com/mcpgate/mcpgate/gateway"),
		client: &http.Client{
			Transport: base,
			Timeout:   time.Duration(s.Timeout),
			// A redirect to another host would carry the client's
			// credentials (and a subject token) there: a 307 resends the
			// form, Basic or not.
			CheckRedirect: func(r *http.Request, via []*http.Request) error {
				if r.URL.Host != tokenURL.Host || r.URL.Scheme != tokenURL.Scheme || len(via) > 2 {
					return fmt.Errorf("redirect to %s refused", r.URL.Redacted())
				}
				return nil
			},
		},
	}
}

// cached records a token answered from a cache.
func (e *tokenEndpoint) cached(ctx context.Context) {
	e.metrics.RecordUpstreamToken(ctx, e.server, telemetry.UpstreamTokenCached)
}

// request asks for a Bearer token with scopes and the grant's params
// (grant_type among them; client_credentials if absent), adding the
// configured audience and resource. The client secret or key is read now,
// so that a rotated file or variable takes effect. A span per request (the
// server and the endpoint's host, never a secret or a token). Errors name
// the server and the token URL, never the secret.
func (e *tokenEndpoint) request(ctx context.Context, scopes []string, params url.Values) (*oauth2.Token, error) {
	ctx, span := e.tracer.Start(ctx, "upstream.token", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(telemetry.AttrServer.String(e.server), attribute.String("mcpgate.upstream.credential", e.kind)))
	defer span.End()
	if u, err := url.Parse(e.auth.TokenURL); err == nil {
		span.SetAttributes(attribute.String("server.address", u.Hostname()))
	}
	tok, err := e.send(ctx, scopes, params)
	if err != nil {
		err = fmt.Errorf("%w: server %q: %s at %s: %w", errTokenFetch, e.server, strings.ReplaceAll(e.kind, "_", " "), e.auth.TokenURL, err)
		span.SetStatus(codes.Error, err.Error())
		e.metrics.RecordUpstreamToken(ctx, e.server, telemetry.UpstreamTokenFailed)
		return nil, err
	}
	e.metrics.RecordUpstreamToken(ctx, e.server, telemetry.UpstreamTokenFetched)
	return tok, nil
}

// send is request without the span, the metric and the error's prefix.
// clientcredentials.Config sends the request: it lets params override
// grant_type (its documented escape for other grants), and parses the
// answer and its errors as RFC 6749 §5 says, reading at most 1 MiB.
func (e *tokenEndpoint) send(ctx context.Context, scopes []string, params url.Values) (*oauth2.Token, error) {
	cc := clientcredentials.Config{
		ClientID:       e.auth.ClientID,
		TokenURL:       e.auth.TokenURL,
		Scopes:         scopes,
		EndpointParams: url.Values{},
	}
	for k, v := range params {
		cc.EndpointParams[k] = v
	}
	if err := e.authenticate(&cc); err != nil {
		return nil, err
	}
	if e.auth.Audience != "" {
		cc.EndpointParams.Set("audience", e.auth.Audience)
	}
	if e.auth.Resource != "" {
		cc.EndpointParams.Set("resource", e.auth.Resource)
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, e.client))
	if err != nil {
		return nil, describeTokenError(err)
	}
	if !strings.EqualFold(tok.Type(), "Bearer") {
		return nil, fmt.Errorf("token type %q is not supported: only Bearer", truncate(tok.TokenType, 100))
	}
	if e.check != nil {
		if err := e.check(tok); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

// authenticate sets how cc authenticates the client at the token
// endpoint (auth_style): the client secret, read now, in HTTP Basic or in
// form fields; or, for private_key_jwt, a client assertion signed now with
// the key read now, beside client_id in the form.
func (e *tokenEndpoint) authenticate(cc *clientcredentials.Config) error {
	switch e.auth.EffectiveAuthStyle() {
	case config.AuthStylePrivateKeyJWT:
		assertion, err := signClientAssertion(e.auth, time.Now())
		if err != nil {
			return err
		}
		cc.AuthStyle = oauth2.AuthStyleInParams
		cc.EndpointParams.Set("client_assertion_type", clientAssertionType)
		cc.EndpointParams.Set("client_assertion", assertion)
		return nil
	case config.AuthStylePost:
		cc.AuthStyle = oauth2.AuthStyleInParams
	default:
		cc.AuthStyle = oauth2.AuthStyleInHeader
	}
	secret, err := e.auth.ClientSecret.Resolve()
	if err != nil {
		return fmt.Errorf("client secret: %w", err)
	}
	cc.ClientSecret = secret
	return nil
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

// usable reports whether t is valid for longer than margin (a token
// without expiry is, until the upstream refuses it).
func usable(t *oauth2.Token, margin time.Duration) bool {
	return t != nil && (t.Expiry.IsZero() || time.Until(t.Expiry) > margin)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
