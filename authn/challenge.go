package authn

import (
	"encoding/json"
	"net/http"
	"strings"
)

// RFC 6750 §3.1 error codes.
const (
	codeInvalidRequest    = "invalid_request"
	codeInvalidToken      = "invalid_token"
	codeInsufficientScope = "insufficient_scope"
)

// challenge is one refusal: the status and the RFC 6750 error code and
// description of its WWW-Authenticate header ("" code: no error attribute).
type challenge struct {
	status int
	code   string
	desc   string
}

// Descriptions are generic on purpose: they never echo the token or say
// which check failed (that goes to the log).
var (
	challengeNoToken = &challenge{status: http.StatusUnauthorized, desc: "an access token is required"}
	challengeInvalid = &challenge{status: http.StatusUnauthorized, code: codeInvalidToken,
		desc: "the access token is invalid or expired"}
	challengeNotBearer = &challenge{status: http.StatusBadRequest, code: codeInvalidRequest,
		desc: "the Authorization header must carry a single Bearer credential"}
	challengeTooLarge = &challenge{status: http.StatusRequestHeaderFieldsTooLarge, code: codeInvalidRequest,
		desc: "the Authorization header is too large"}
	challengeQuery = &challenge{status: http.StatusBadRequest, code: codeInvalidRequest,
		desc: "the access token must be sent in the Authorization header, never in the URL"}
)

// challengeHeader builds `Bearer resource_metadata="…", scope="…",
// error="…", error_description="…"`, leaving out empty parts. Every value
// is reduced to the characters RFC 6750 allows, so neither configuration
// nor anything derived from a request can inject into the header.
func challengeHeader(resourceMetadata string, scopes []string, code, desc string) string {
	var params []string
	if rm := headerURL(resourceMetadata); rm != "" {
		params = append(params, `resource_metadata="`+rm+`"`)
	}
	if s := scopeParam(scopes); s != "" {
		params = append(params, `scope="`+s+`"`)
	}
	if code != "" {
		params = append(params, `error="`+code+`"`)
	}
	if d := rfc6750Chars(desc); d != "" {
		params = append(params, `error_description="`+d+`"`)
	}
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// headerURL makes a URL safe inside a quoted-string without backslash
// escapes, which some clients' challenge parsers (go-sdk's among them) do not
// undo: '"', '\', space, control and non-ASCII bytes are percent-encoded, which
// keeps the URL meaning the same.
func headerURL(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= 0x20 || c >= 0x7f || c == '"' || c == '\\':
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// rfc6750Chars keeps only %x20-21 / %x23-5B / %x5D-7E, the characters
// RFC 6750 allows in error_description.
func rfc6750Chars(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// scopeParam joins the valid scope tokens (RFC 6749 §3.3 NQCHAR) and drops
// "offline_access", which must not be challenged for.
func scopeParam(scopes []string) string {
	var ok []string
	for _, s := range scopes {
		if s != "" && s != "offline_access" && s == strings.Map(nqchar, s) {
			ok = append(ok, s)
		}
	}
	return strings.Join(ok, " ")
}

func nqchar(r rune) rune {
	if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
		return -1
	}
	return r
}

// writeChallenge writes the refusal: status, WWW-Authenticate and a small
// OAuth-style JSON body.
func writeChallenge(w http.ResponseWriter, c *challenge, resourceMetadata string, scopes []string) {
	h := w.Header()
	h.Set("WWW-Authenticate", challengeHeader(resourceMetadata, scopes, c.code, c.desc))
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(c.status)
	body := struct {
		Error       string `json:"error,omitempty"`
		Description string `json:"error_description"`
	}{c.code, c.desc}
	_ = json.NewEncoder(w).Encode(body) // the client went away: nothing to do
}

// WriteInsufficientScope answers 403 with an RFC 6750 insufficient_scope
// challenge naming scopes (all scopes the current operation needs; MCP
// clients then step up), plus opts.ResourceMetadataURL. desc, if not empty,
// becomes error_description; it must not contain secrets.
func WriteInsufficientScope(w http.ResponseWriter, opts MiddlewareOptions, scopes []string, desc string) {
	if desc == "" {
		desc = "the access token lacks the scopes this request needs"
	}
	c := &challenge{status: http.StatusForbidden, code: codeInsufficientScope, desc: desc}
	writeChallenge(w, c, opts.ResourceMetadataURL, scopes)
}
