package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/telemetry"
)

// RFC 8693 names.
const (
	grantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// requestedTokenType is the only token type the gateway asks for and
	// accepts: an access token it sends upstream as a Bearer token.
	requestedTokenType = config.TokenTypeAccessToken
)

// tokenExchange obtains the tokens of one upstream (auth kind
// token_exchange) for the employees who call it, with OAuth 2.0 token
// exchange (RFC 8693): the employee's own verified token (the one their
// MCP client sent the gateway) is the subject token, sent to the
// upstream's token endpoint and never to the upstream itself.
type tokenExchange struct {
	ep     *tokenEndpoint
	margin time.Duration
	params url.Values // the grant's fixed parameters, token_params included
}

func newTokenExchange(s config.Server, base http.RoundTripper, margin time.Duration, metrics *telemetry.Metrics, tp trace.TracerProvider) *tokenExchange {
	params := url.Values{}
	for k, v := range s.Auth.TokenParams {
		params.Set(k, v) // validated by config: never one the gateway sets
	}
	params.Set("grant_type", grantTypeTokenExchange)
	params.Set("subject_token_type", s.Auth.EffectiveSubjectTokenType())
	params.Set("requested_token_type", requestedTokenType)
	ep := newTokenEndpoint(s, base, metrics, tp)
	ep.check = checkIssuedType
	return &tokenExchange{ep: ep, margin: margin, params: params}
}

// forEmployee returns the token source of id's upstream session, which the
// request in ctx opens: it starts with that request's subject token.
func (x *tokenExchange) forEmployee(ctx context.Context, id *authn.Identity) tokenSource {
	s := &exchangedTokens{x: x, employee: employeeKey(id)}
	s.subject, _ = subjectFor(ctx, s.employee)
	return s
}

// exchangedTokens are one employee's tokens for one upstream, one per set
// of scopes policy decided, each kept until it is within the margin of its
// expiry. They live as long as the employee's upstream session.
type exchangedTokens struct {
	x        *tokenExchange
	employee string // employeeKey

	mu      sync.Mutex // held across an exchange: the employee's concurrent calls wait for one
	subject secretToken
	tokens  map[string]*oauth2.Token // by scope set, space-separated
}

// Token returns a token for the scopes decided for the request in ctx,
// exchanging the employee's token for one when none is cached. The subject
// token is the current request's when it carries one (the freshest), else
// the last one seen: requests the session makes on its own (initialize,
// its event stream) carry none.
func (s *exchangedTokens) Token(ctx context.Context) (string, error) {
	scopes := scopesFor(ctx, s.x.ep.auth)
	key := strings.Join(scopes, " ")
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := subjectFor(ctx, s.employee); ok {
		s.subject = st
	}
	if t := s.tokens[key]; usable(t, s.x.margin) {
		s.x.ep.cached(ctx)
		return t.AccessToken, nil
	}
	if s.subject == "" {
		return "", fmt.Errorf("%w: server %q: token exchange: no verified token of the caller to exchange", errTokenFetch, s.x.ep.server)
	}
	params := url.Values{"subject_token": {string(s.subject)}}
	for k, v := range s.x.params {
		params[k] = v
	}
	tok, err := s.x.ep.request(ctx, scopes, params)
	if err != nil {
		return "", err
	}
	if s.tokens == nil {
		s.tokens = map[string]*oauth2.Token{}
	}
	s.tokens[key] = tok
	return tok.AccessToken, nil
}

// checkIssuedType refuses an exchange's answer whose issued_token_type
// (required by RFC 8693 §2.2.1) is not the access token asked for.
func checkIssuedType(tok *oauth2.Token) error {
	got, _ := tok.Extra("issued_token_type").(string)
	switch got {
	case requestedTokenType:
		return nil
	case "":
		return errors.New("the answer has no issued_token_type (RFC 8693 §2.2.1): refused")
	}
	return fmt.Errorf("issued_token_type %q is not the access token asked for (%s): refused", truncate(got, 100), requestedTokenType)
}

// Invalidate drops token (the upstream refused it), unless it was already
// replaced.
func (s *exchangedTokens) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dropToken(s.tokens, token)
}

// secretToken is a credential the gateway holds for a while (an employee's
// token to exchange): whatever prints or logs it shows "[redacted]".
type secretToken string

const redacted = "[redacted]"

func (secretToken) String() string               { return redacted }
func (secretToken) GoString() string             { return redacted }
func (secretToken) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (secretToken) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (secretToken) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (secretToken) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(redacted)) }

// subjectTokenKey holds, in a request's context, the caller's verified
// bearer token (subjectToken), for upstreams of auth kind token_exchange.
type subjectTokenKey struct{}

// subjectToken is the bearer token of the request, and the employee
// (employeeKey) it was verified for.
type subjectToken struct {
	employee string
	token    secretToken
}

// withSubjectToken returns ctx carrying the bearer token of a request by
// id, taken from its Authorization header (which the bearer middleware
// verified for id before the request reached the MCP server). A header
// that is not one Bearer credential carries none.
func withSubjectToken(ctx context.Context, id *authn.Identity, h http.Header) context.Context {
	if id == nil {
		return ctx
	}
	values := h.Values("Authorization")
	if len(values) != 1 {
		return ctx
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t,") {
		return ctx
	}
	return context.WithValue(ctx, subjectTokenKey{}, subjectToken{employee: employeeKey(id), token: secretToken(token)})
}

// subjectFor returns the subject token ctx carries for employee; one
// verified for another employee is never returned.
func subjectFor(ctx context.Context, employee string) (secretToken, bool) {
	st, ok := ctx.Value(subjectTokenKey{}).(subjectToken)
	if !ok || st.employee != employee {
		return "", false
	}
	return st.token, true
}
