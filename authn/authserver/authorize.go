package authserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Bounds of an authorization request.
const (
	maxStateLen       = 512
	maxAuthorizeQuery = 8 << 10
)

// serveAuthorize handles the client's authorization request: it checks
// the client, its redirect URI, PKCE, state and resource, then sends the
// employee to the corporate IdP. Errors before the redirect URI is known
// to be the client's are shown to the employee and never redirected
// (RFC 6749 §4.1.2.1); later ones go back to the client.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx, span := s.tracer.Start(r.Context(), "oauth.authorize")
	defer span.End()
	if len(r.URL.RawQuery) > maxAuthorizeQuery {
		s.errorPage(w, http.StatusRequestURITooLong, "Request too long", "The authorization request is too long.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.errorPage(w, http.StatusBadRequest, "Malformed request", "The authorization request could not be parsed.")
		return
	}
	for k, v := range q {
		if len(v) > 1 {
			s.errorPage(w, http.StatusBadRequest, "Malformed request", "The parameter "+k+" is repeated.")
			return
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	c, err := s.lookupClient(lctx, q.Get("client_id"), remoteAddr(r))
	cancel()
	if err != nil {
		span.SetAttributes(attribute.String("oauth.error", "invalid_client"))
		s.log.Info("authserver: authorization refused: client", "client_id", truncate(q.Get("client_id"), 200), "err", err)
		s.clientErrorPage(w, err)
		return
	}
	span.SetAttributes(attribute.String("oauth.client_id", c.id()))
	redirect := q.Get("redirect_uri")
	if redirect == "" || !redirectURIMatches(c.metadata.RedirectURIs, redirect) {
		s.log.Info("authserver: authorization refused: redirect_uri not registered", "client_id", c.id(), "redirect_uri", truncate(redirect, 200))
		s.errorPage(w, http.StatusBadRequest, "Unregistered redirect",
			"The application asked to be sent back to an address it has not registered. Nothing was sent to it.")
		return
	}
	p := authzParams{ClientID: c.id(), ClientName: c.name(), RedirectURI: redirect, State: q.Get("state"),
		CodeChallenge: q.Get("code_challenge"), Resource: q.Get("resource"), Kind: c.kind,
		Confidential: c.confidential(), Origin: c.origin()}
	if oerr := s.checkAuthorize(q, &p); oerr != nil {
		span.SetAttributes(attribute.String("oauth.error", oerr.Code))
		s.redirectError(w, r, &p, oerr)
		return
	}
	s.startSignIn(ctx, w, r, pendingAuth{Params: p})
}

// checkAuthorize checks the parameters that may be reported back to the
// client, and fills p's scopes.
func (s *Server) checkAuthorize(q url.Values, p *authzParams) *oauthError {
	switch {
	case q.Get("response_type") != "code":
		return &oauthError{Code: "unsupported_response_type", Description: "only response_type=code is supported"}
	case p.State == "":
		return errInvalidRequest("state is required")
	case len(p.State) > maxStateLen:
		return errInvalidRequest("state is too long")
	case !printableASCII(p.State):
		return errInvalidRequest("state must be printable ASCII")
	case p.CodeChallenge == "":
		return errInvalidRequest("PKCE is required: send code_challenge with code_challenge_method=S256")
	case q.Get("code_challenge_method") != "S256":
		return errInvalidRequest("code_challenge_method must be S256")
	case !isS256Challenge(p.CodeChallenge):
		return errInvalidRequest("code_challenge is not a base64url SHA-256 (43 characters)")
	case q.Has("request") || q.Has("request_uri"):
		return &oauthError{Code: "request_not_supported", Description: "request objects are not supported"}
	}
	if p.Resource != "" && p.Resource != s.opts.Resource {
		return &oauthError{Code: "invalid_target", Description: "resource must be " + s.opts.Resource}
	}
	p.Resource = s.opts.Resource
	scopes, ok := parseScope(q.Get("scope"))
	if !ok {
		return &oauthError{Code: "invalid_scope", Description: "malformed scope"}
	}
	if len(scopes) > 64 {
		return &oauthError{Code: "invalid_scope", Description: "too many scopes"}
	}
	asked := len(scopes) > 0
	// Only catalogue scopes can ever be granted: the others are dropped
	// here, so that nothing a client makes up reaches the store or the
	// policy's input.
	scopes = slices.DeleteFunc(scopes, func(sc string) bool { _, known := s.catalog[sc]; return !known })
	if !asked {
		for _, sc := range s.opts.Scopes {
			scopes = append(scopes, sc.Name)
		}
	}
	p.Scopes = scopes
	return nil
}

func isS256Challenge(s string) bool { return isBase64URL(s, 43, 43) }

// startSignIn sends the browser to the IdP, with a pending record under
// a fresh state and a cookie that binds the sign-in to this browser.
func (s *Server) startSignIn(ctx context.Context, w http.ResponseWriter, r *http.Request, pa pendingAuth) {
	if !s.signIns.allow(remoteAddr(r)) {
		w.Header().Set("Retry-After", "60")
		s.errorPage(w, http.StatusTooManyRequests, "Too many sign-ins", "Too many sign-ins were started from your address. Try again in a minute.")
		return
	}
	state := randomToken(24)
	pa.Nonce = randomToken(24)
	pa.Verifier = randomToken(32)
	binding := randomToken(24)
	pa.BrowserHash = hashBytes(binding)
	pa.RemoteAddr = remoteAddr(r)
	target, err := s.idp.authCodeURL(ctx, state, pa.Nonce, pa.Verifier)
	if err != nil {
		s.log.Error("authserver: cannot send the employee to the IdP", "err", err)
		if pa.Grants {
			s.errorPage(w, http.StatusServiceUnavailable, "Sign-in unavailable", "The organisation's sign-in service cannot be reached. Try again in a minute.")
			return
		}
		s.redirectError(w, r, &pa.Params, &oauthError{Code: "temporarily_unavailable", Description: "the identity provider cannot be reached"})
		return
	}
	if err := s.rec.put(ctx, nsPending, state, &pa, s.now().Add(pendingTTL)); err != nil {
		s.storeFailure(w, err)
		return
	}
	s.setCookie(w, bindingCookie(state), binding, PathCallback, pendingTTL, http.SameSiteLaxMode)
	http.Redirect(w, r, target, http.StatusFound)
}

// redirectError sends an error back to the client's (checked) redirect URI.
//
// Before the consent page, only a configured client gets the redirect; a
// self-registered or metadata-document client's employee sees an error
// page instead, so that nobody can use the gateway to send a browser to a
// URI of their choosing. consented marks errors after the employee saw the
// consent page, which named the redirect host.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, p *authzParams, e *oauthError) {
	if !p.trusted() {
		s.errorPage(w, http.StatusBadRequest, "Authorization refused",
			"The application's request was refused ("+e.Code+": "+e.Description+"). You were not sent back to it.")
		return
	}
	s.redirectErrorAfterConsent(w, r, p, e)
}

// redirectErrorAfterConsent sends an error to the client's redirect URI
// after the employee answered the consent page.
func (s *Server) redirectErrorAfterConsent(w http.ResponseWriter, r *http.Request, p *authzParams, e *oauthError) {
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	s.redirectToClient(w, r, p, v)
}

// redirectToClient sends the browser to the client's redirect URI with v,
// the state and the issuer (RFC 9207).
func (s *Server) redirectToClient(w http.ResponseWriter, r *http.Request, p *authzParams, v url.Values) {
	u, err := url.Parse(p.RedirectURI)
	if err != nil { // checked at registration; never happens
		s.errorPage(w, http.StatusBadRequest, "Bad redirect", "The application's redirect address is malformed.")
		return
	}
	q := u.Query()
	for k, vals := range v {
		q[k] = vals
	}
	if p.State != "" {
		q.Set("state", p.State)
	}
	q.Set("iss", s.opts.Issuer)
	u.RawQuery = q.Encode()
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), status)
}

func (s *Server) clientErrorPage(w http.ResponseWriter, err error) {
	var refused *errRegistrationRefused
	switch {
	case errors.As(err, &refused):
		s.errorPage(w, http.StatusForbidden, "Application not allowed", "Your organisation does not allow this application: "+refused.Error()+".")
	case errors.Is(err, errStore):
		s.storeFailure(w, err)
	case errors.Is(err, errUnknownClient):
		s.errorPage(w, http.StatusBadRequest, "Unknown application", "The application is not registered with this gateway. Nothing was sent to it.")
	default:
		// The detail (an address refused, a DNS failure, the document's
		// own text) is for the log, not for whoever sent the request.
		s.errorPage(w, http.StatusBadRequest, "Application not recognised",
			"The application's registration could not be checked. If it persists, give your administrator the time of this attempt.")
	}
}

func (s *Server) storeFailure(w http.ResponseWriter, err error) {
	s.log.Error("authserver: store failed", "err", err)
	s.errorPage(w, http.StatusServiceUnavailable, "Temporarily unavailable", "The gateway cannot reach its store. Try again in a minute.")
}

// bindingCookie is the name of the cookie binding one sign-in (its state)
// to the browser that started it; per state, so parallel sign-ins in one
// browser do not overwrite each other.
func bindingCookie(state string) string { return "mcpgate_signin_" + state[:12] }

// setCookie sets an HttpOnly cookie. On an https issuer it is Secure and
// named with the __Host- prefix (which needs Path=/), so that no sibling
// subdomain can plant one (a login CSRF); on http (development, loopback)
// it is scoped to one endpoint's path. The names are unique per sign-in
// or consent page, so the wider path costs nothing.
func (s *Server) setCookie(w http.ResponseWriter, name, value, path string, ttl time.Duration, same http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: value, Path: s.cookiePath(path), MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: same})
}

func (s *Server) clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: "", Path: s.cookiePath(path), MaxAge: -1,
		HttpOnly: true, Secure: s.secure})
}

func (s *Server) cookieName(name string) string {
	if s.secure {
		return "__Host-" + name
	}
	return name
}

func (s *Server) cookiePath(path string) string {
	if s.secure {
		return "/"
	}
	return s.issuer.Path + path
}

// cookieMatches reports whether the request carries cookie name whose
// hash is want.
func (s *Server) cookieMatches(r *http.Request, name string, want []byte) bool {
	c, err := r.Cookie(s.cookieName(name))
	if err != nil || c.Value == "" || len(want) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(hashBytes(c.Value), want) == 1
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// printableASCII reports whether s has only characters from 0x20 to 0x7e
// (RFC 6749 Appendix A.5: state is VSCHAR).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
