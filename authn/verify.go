package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// maxTokenBytes bounds the raw token Verify looks at.
const maxTokenBytes = 16 << 10

// Verifier verifies bearer access tokens from the configured issuers. It is
// safe for concurrent use.
type Verifier struct {
	issuers map[string]*issuer
	leeway  time.Duration
	now     func() time.Time
	cache   *tokenCache

	// verifications counts tokens verified without the cache (tests).
	verifications atomic.Int64
}

// NewVerifier validates cfg and returns a Verifier. It does not contact any
// issuer: discovery happens on the first token of each issuer, and is
// retried at most once per RefreshInterval while it fails; meanwhile that
// issuer's tokens are refused with ErrUnavailable.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("authn: new verifier: %w", err)
	}
	cfg = cfg.withDefaults()
	v := &Verifier{
		issuers: make(map[string]*issuer, len(cfg.Issuers)),
		leeway:  cfg.Leeway,
		now:     cfg.Now,
		cache:   newTokenCache(cfg.CacheSize),
	}
	for _, ic := range cfg.Issuers {
		v.issuers[ic.Issuer] = newIssuer(ic, cfg)
	}
	return v, nil
}

// Verify checks raw (signature, issuer, audience, exp, nbf, iat) and returns
// the caller's Identity. Errors wrap ErrInvalidToken or ErrUnavailable. The
// returned Identity may be shared with other callers: do not modify it.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	vt, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	return vt.id, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (*verified, error) {
	vt, _, err := v.verifyReport(ctx, raw)
	return vt, err
}

// cachedToken is the verified token raw when the cache holds it.
func (v *Verifier) cachedToken(raw string) (*verified, bool) {
	if raw == "" || len(raw) > maxTokenBytes {
		return nil, false
	}
	return v.cache.get(keyOf(raw), v.now())
}

// verifyReport is verify that also says whether the cache answered.
func (v *Verifier) verifyReport(ctx context.Context, raw string) (*verified, bool, error) {
	if raw == "" || len(raw) > maxTokenBytes {
		return nil, false, invalid(reasonMalformed, fmt.Errorf("length %d out of range", len(raw)))
	}
	k, now := keyOf(raw), v.now()
	if vt, ok := v.cache.get(k, now); ok {
		return vt, true, nil
	}
	if err := checkTokenSyntax(raw); err != nil {
		return nil, false, err
	}
	vt, err := v.verifyUncached(ctx, raw, now)
	if err != nil {
		return nil, false, err
	}
	v.cache.put(k, vt, now)
	return vt, false, nil
}

func (v *Verifier) verifyUncached(ctx context.Context, raw string, now time.Time) (*verified, error) {
	v.verifications.Add(1)
	iss, err := peekIssuer(raw)
	if err != nil {
		return nil, invalid(reasonMalformed, err)
	}
	is, ok := v.issuers[iss]
	if !ok {
		return nil, invalid(reasonUnknownIssuer, nil)
	}
	idv, err := is.verifier(ctx)
	if err != nil {
		return nil, err
	}
	if is.tokenType != "" && !hasTokenType(raw, is.tokenType) {
		return nil, invalid(reasonTokenType, nil)
	}
	tok, err := idv.Verify(ctx, raw)
	if err != nil {
		return nil, is.classify(err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, invalid(reasonMalformed, err)
	}
	return v.check(is, tok, claims, now)
}

// check applies the claim checks go-oidc leaves to us (it is configured to
// skip them) and builds the Identity.
func (v *Verifier) check(is *issuer, tok *oidc.IDToken, claims map[string]any, now time.Time) (*verified, error) {
	exp, err := v.checkTimes(claims, now)
	if err != nil {
		return nil, err
	}
	if !audienceAccepted(tok.Audience, is.audiences) {
		return nil, invalid(reasonAudience, nil)
	}
	id := is.claims.identity(claims)
	if id.Subject == "" {
		return nil, invalid(reasonSubject, nil)
	}
	id.Issuer, id.Audience, id.Expiry = tok.Issuer, tok.Audience, exp
	id.PolicyKey = policyKey(id)
	return &verified{
		id:     id,
		userID: sessionUserID(id.Issuer, id.Subject),
		until:  minTime(exp, now.Add(MaxCacheTTL)),
	}, nil
}

// checkTimes checks exp (required), nbf and iat with the leeway. go-oidc's
// own check is off: it has no leeway on exp and a fixed 5 minutes on nbf.
func (v *Verifier) checkTimes(claims map[string]any, now time.Time) (time.Time, error) {
	exp, hasExp, err := numericDate(claims, "exp")
	if err != nil {
		return time.Time{}, err
	}
	if !hasExp {
		return time.Time{}, invalid(reasonMissingExp, nil)
	}
	if now.After(exp.Add(v.leeway)) {
		return time.Time{}, invalid(reasonExpired, nil)
	}
	late := now.Add(v.leeway)
	if nbf, ok, err := numericDate(claims, "nbf"); err != nil || ok && nbf.After(late) {
		return time.Time{}, orInvalid(err, reasonNotYetValid)
	}
	if iat, ok, err := numericDate(claims, "iat"); err != nil || ok && iat.After(late) {
		return time.Time{}, orInvalid(err, reasonIssuedFuture)
	}
	return exp, nil
}

func orInvalid(err error, reason string) error {
	if err != nil {
		return err
	}
	return invalid(reason, nil)
}

// maxNumericDate (year 10000) clamps absurd dates before conversion, so a
// huge nbf cannot overflow into the past.
const maxNumericDate = 253402300800

// numericDate reads an RFC 7519 NumericDate: a JSON number of seconds.
// Any other JSON type is malformed (go-oidc would accept a numeric string).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	raw, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	f, ok := raw.(float64)
	if !ok {
		return time.Time{}, false, invalid(reasonMalformed, fmt.Errorf("%s is not a number", name))
	}
	f = math.Max(0, math.Min(f, maxNumericDate))
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audienceAccepted reports whether aud contains one of the accepted
// audiences, compared as strings, character for character (RFC 8707
// resource indicators are absolute URIs compared by simple string
// comparison, RFC 3986 §6.2.1): "https://gw/mcp/" is another resource than
// "https://gw/mcp". Clients take the resource from the protected-resource
// metadata, which states it exactly. A token for any other resource is
// refused, never passed through.
func audienceAccepted(aud, accepted []string) bool {
	for _, a := range accepted {
		if slices.Contains(aud, a) {
			return true
		}
	}
	return false
}

// classify maps a go-oidc error to ours. go-oidc formats its inner errors
// with %v, so only the message tells a malformed token from a signature
// failure; a signature failure while the key set cannot be fetched is the
// IdP's fault, not the token's.
func (is *issuer) classify(err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "failed to verify signature"):
		if is.keysUnavailable() {
			return unavailable(reasonKeys, err)
		}
		return invalid(reasonSignature, err)
	default:
		return invalid(reasonMalformed, err)
	}
}

// checkTokenSyntax accepts only a compact JWS: three base64url segments in
// canonical form (unused trailing bits zero, as go-jose does not insist), so
// one signed token has exactly one accepted spelling.
func checkTokenSyntax(raw string) error {
	if raw == "" || len(raw) > maxTokenBytes {
		return invalid(reasonMalformed, fmt.Errorf("length %d out of range", len(raw)))
	}
	segments := 0
	for seg := range strings.SplitSeq(raw, ".") {
		if segments++; segments > 3 || !canonicalB64(seg) {
			return invalid(reasonMalformed, errNotCompactJWS)
		}
	}
	if segments != 3 {
		return invalid(reasonMalformed, errNotCompactJWS)
	}
	return nil
}

var errNotCompactJWS = errors.New("not a compact JWS")

// canonicalB64 reports whether s is unpadded base64url whose last character
// carries no set unused bits.
func canonicalB64(s string) bool {
	for i := 0; i < len(s); i++ {
		if b64Value(s[i]) < 0 {
			return false
		}
	}
	if s == "" {
		return true
	}
	last := b64Value(s[len(s)-1])
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		return last&0x0f == 0
	case 3:
		return last&0x03 == 0
	}
	return true
}

func b64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// peekIssuer reads the unverified "iss", only to choose the issuer whose
// keys verify the token; go-oidc then checks the verified "iss" again.
func peekIssuer(raw string) (string, error) {
	_, rest, _ := strings.Cut(raw, ".")
	payload, _, _ := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", fmt.Errorf("payload: %w", err)
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("payload: %w", err)
	}
	return c.Iss, nil
}

// sessionUserID encodes (issuer, subject) for go-sdk's session binding as
// two Go-quoted strings separated by a space. Quoting is injective and the
// first string ends at its first unescaped quote, so distinct pairs never
// share an encoding: ("a b", "c") and ("a", "b c") differ, which plain
// issuer + " " + subject would not guarantee.
func sessionUserID(iss, sub string) string {
	return strconv.Quote(iss) + " " + strconv.Quote(sub)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// logTokenRef is the short, non-reversible reference to a token that may be
// logged: the first 8 hex digits of its SHA-256.
func logTokenRef(raw string) slog.Attr {
	k := keyOf(raw)
	return slog.String("token_sha256", fmt.Sprintf("%x", k[:4]))
}

// hasTokenType reports whether the JWS header's "typ" is want (RFC 9068
// §4: compared case-insensitively, "application/" optional).
func hasTokenType(raw, want string) bool {
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(b, &h) != nil {
		return false
	}
	typ := strings.ToLower(h.Typ)
	typ = strings.TrimPrefix(typ, "application/")
	return typ == strings.ToLower(want)
}
