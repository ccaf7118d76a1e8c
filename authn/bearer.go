package authn

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// MaxAuthorizationHeader is the largest Authorization header the middleware
// reads; a longer one is answered 431. http.Server.MaxHeaderBytes applies
// before this, to all headers together.
const MaxAuthorizationHeader = 16 << 10

// MiddlewareOptions configures Middleware and WriteInsufficientScope.
type MiddlewareOptions struct {
	// ResourceMetadataURL is the absolute URL of the protected resource
	// metadata (/.well-known/oauth-protected-resource/mcp), sent as
	// resource_metadata in every challenge.
	ResourceMetadataURL string
	// Scopes, if any, are sent as scope in 401 challenges. "offline_access"
	// is never sent.
	Scopes []string
	// Logger receives refusals (never tokens). If nil, slog.Default().
	Logger *slog.Logger
	// TracerProvider records a span per verification (outcome, cache,
	// issuer; never token contents). If nil, none.
	TracerProvider trace.TracerProvider
	// OnVerify, if set, is told each verification's outcome (VerifyOK,
	// VerifyInvalid, VerifyUnavailable) and whether the cache answered: for
	// metrics.
	OnVerify func(ctx context.Context, outcome VerifyOutcome, cached bool)
}

type pendingTokenInfoKey struct{}

// Middleware requires a valid bearer token in the Authorization header of
// every request, and refuses with RFC 6750 §3 challenges:
//
//   - no Authorization header: 401, no error code (RFC 6750 §3.1);
//   - a token in the query string (access_token=…): 400 invalid_request,
//     even with a header token, since the URL has leaked it to logs;
//   - a header that is not exactly one Bearer credential (several
//     Authorization headers, another scheme, several tokens): 400
//     invalid_request. RFC 6750 calls a malformed request invalid_request;
//     answering 400 tells a misconfigured client "fix the request", not "log
//     in again";
//   - an Authorization header over MaxAuthorizationHeader: 431
//     invalid_request;
//   - a Bearer credential whose token is empty or not b64token syntax, and
//     any token Verify refuses (invalid, expired, other audience, unknown
//     key, IdP unreachable): 401 invalid_token with a generic description.
//     401 is what sends MCP clients back to authorization.
//
// On success the request context carries the *Identity (FromContext) and
// go-sdk's auth.TokenInfo, whose UserID binds MCP sessions to the caller.
func Middleware(v *Verifier, opts MiddlewareOptions) func(http.Handler) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// go-sdk keeps TokenInfo under an unexported context key that only its
	// own RequireBearerToken sets, and its StreamableHTTPHandler reads
	// TokenInfo.UserID to refuse a session used by another user (403). So the
	// next handler is wrapped in RequireBearerToken with a verifier that only
	// hands back the TokenInfo this middleware has already verified; the SDK
	// re-reads the header (already checked here) and stores it.
	sdkOpts := &auth.RequireBearerTokenOptions{ResourceMetadataURL: opts.ResourceMetadataURL, ClockSkew: v.leeway}
	return func(next http.Handler) http.Handler {
		inner := auth.RequireBearerToken(passVerified, sdkOpts)(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, c := bearerFromRequest(r)
			if c != nil {
				writeChallenge(w, c, opts.ResourceMetadataURL, opts.Scopes)
				return
			}
			vt, err := v.verifyObserved(r.Context(), raw, opts)
			if err != nil {
				logRefusal(r.Context(), logger, err, raw)
				writeChallenge(w, challengeInvalid, opts.ResourceMetadataURL, opts.Scopes)
				return
			}
			ctx := NewContext(r.Context(), vt.id)
			ctx = context.WithValue(ctx, pendingTokenInfoKey{}, tokenInfo(vt))
			inner.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// VerifyOutcome classifies a token verification, for OnVerify, the span
// and the mcpgate.authn.verifications metric label.
type VerifyOutcome string

// Outcomes of a token verification.
const (
	VerifyOK          VerifyOutcome = "ok"
	VerifyInvalid     VerifyOutcome = "invalid"     // bad, expired or wrong-audience token
	VerifyUnavailable VerifyOutcome = "unavailable" // issuer or JWKS unreachable
)

// verifyObserved verifies with a span (never token contents: outcome,
// whether the cache answered, the issuer) and reports to OnVerify.
func (v *Verifier) verifyObserved(ctx context.Context, raw string, opts MiddlewareOptions) (*verified, error) {
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	if vt, ok := v.cachedToken(raw); ok {
		// A token verified before: a map lookup, which goes on the
		// request's span rather than on a span of its own (each costs
		// more than the lookup; docs/observability.md).
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("mcpgate.authn.outcome", string(VerifyOK)),
			attribute.Bool("mcpgate.authn.cached", true), attribute.String("mcpgate.authn.issuer", vt.id.Issuer))
		if opts.OnVerify != nil {
			opts.OnVerify(ctx, VerifyOK, true)
		}
		return vt, nil
	}
	ctx, span := tp.Tracer("github.com/mcpgate/mcpgate/authn").Start(ctx, "mcpgate.authn verify token")
	defer span.End()
	vt, cached, err := v.verifyReport(ctx, raw)
	outcome := VerifyOK
	switch {
	case errors.Is(err, ErrUnavailable):
		outcome = VerifyUnavailable
	case err != nil:
		outcome = VerifyInvalid
	default:
		span.SetAttributes(attribute.String("mcpgate.authn.issuer", vt.id.Issuer))
	}
	span.SetAttributes(attribute.String("mcpgate.authn.outcome", string(outcome)), attribute.Bool("mcpgate.authn.cached", cached))
	if err != nil {
		span.SetStatus(codes.Error, string(outcome))
	}
	if opts.OnVerify != nil {
		opts.OnVerify(ctx, outcome, cached)
	}
	return vt, err
}

// tokenInfo is the go-sdk view of a verified token. UserID is
// sessionUserID(issuer, subject): a subject is unique only per issuer.
func tokenInfo(vt *verified) *auth.TokenInfo {
	return &auth.TokenInfo{
		Scopes:     vt.id.Scopes,
		Expiration: vt.id.Expiry,
		UserID:     vt.userID,
		Extra:      map[string]any{tokenInfoIdentity: vt.id},
	}
}

func passVerified(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
	if ti, ok := ctx.Value(pendingTokenInfoKey{}).(*auth.TokenInfo); ok {
		return ti, nil
	}
	return nil, auth.ErrInvalidToken
}

func logRefusal(ctx context.Context, logger *slog.Logger, err error, raw string) {
	if errors.Is(err, ErrUnavailable) {
		logger.LogAttrs(ctx, slog.LevelWarn, "authn: token refused: identity provider unavailable",
			slog.String("reason", reasonOf(err)), slog.String("error", errorText(err)), logTokenRef(raw))
		return
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "authn: token refused",
		slog.String("reason", reasonOf(err)), slog.String("error", errorText(err)), logTokenRef(raw))
}

// maxErrorText bounds an error in a log line: go-oidc quotes the body of a
// failed discovery or JWKS answer (up to 1 MiB), and refusals are logged
// for every request.
const maxErrorText = 512

func errorText(err error) string {
	s := err.Error()
	if len(s) <= maxErrorText {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes in all)", strings.ToValidUTF8(s[:maxErrorText], ""), len(s))
}

// bearerFromRequest extracts the token, or the challenge refusing the
// request.
func bearerFromRequest(r *http.Request) (string, *challenge) {
	if r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return "", challengeQuery
	}
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", challengeNoToken
	case 1:
		return parseBearer(values[0])
	}
	return "", challengeNotBearer
}

// parseBearer parses one Authorization header value: "Bearer" (any case),
// one or more spaces, and a b64token (RFC 6750 §2.1).
func parseBearer(h string) (string, *challenge) {
	if len(h) > MaxAuthorizationHeader {
		return "", challengeTooLarge
	}
	const scheme = "Bearer"
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", challengeNotBearer
	}
	rest := h[len(scheme):]
	if rest != "" && rest[0] != ' ' {
		return "", challengeNotBearer // e.g. "Bearerabc", "Bearer\tabc"
	}
	token := strings.TrimLeft(rest, " ")
	switch {
	case token == "":
		return "", challengeInvalid
	case strings.ContainsAny(token, " \t,"):
		return "", challengeNotBearer
	case !isB64Token(token):
		return "", challengeInvalid
	}
	return token, nil
}

// isB64Token reports whether s is 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
// / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
