package devidp

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// authzParams are the authorization request parameters the provider reads.
// They are carried through the sign-in form and bound into its CSRF token.
var authzParams = []string{"client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method", "scope", "resource", "nonce"}

// maxNonceLen bounds the OpenID Connect nonce, which every ID token repeats.
const maxNonceLen = 512

// authzRequest is a parsed authorization request.
type authzRequest struct {
	client      *client
	redirectURI string
	// raw holds the non-empty parameters as received, for the form and the CSRF token.
	raw     url.Values
	granted []string
}

// serveAuthorize is the authorization endpoint: GET shows the sign-in page,
// POST (from that page) signs a demo user in and redirects with a code.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		req, oerr := p.parseAuthorize(r.URL.Query())
		if p.reportAuthorizeError(w, r, req, oerr) {
			return
		}
		p.renderSignIn(w, req)
	case http.MethodPost:
		p.authorizePost(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (p *Provider) authorizePost(w http.ResponseWriter, r *http.Request) {
	if err := p.crossOrigin.Check(r); err != nil {
		renderError(w, http.StatusForbidden, "Cross-origin sign-in refused", "The sign-in form was submitted from another site.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		renderError(w, http.StatusBadRequest, "Bad sign-in request", "The form could not be read.")
		return
	}
	form := r.PostForm
	req, oerr := p.parseAuthorize(form)
	if p.reportAuthorizeError(w, r, req, oerr) {
		return
	}
	if !p.checkCSRF(req.raw, form.Get("csrf_token")) {
		renderError(w, http.StatusForbidden, "Sign-in form expired or forged",
			"The CSRF token is missing, invalid or expired. Start the sign-in again from your MCP client.")
		return
	}
	if form.Get("cancel") != "" {
		p.redirectError(w, r, req, &oauthError{Code: "access_denied", Description: "the user cancelled the sign-in"})
		return
	}
	user, ok := p.byName[form.Get("user")]
	if !ok {
		p.redirectError(w, r, req, &oauthError{Code: "access_denied", Description: "unknown user"})
		return
	}
	p.issueCode(w, r, req, user)
}

// reportAuthorizeError answers a failed authorization request and reports
// whether it did. Without a trusted redirect URI the error is shown as a page;
// with one, it is sent back to the client (RFC 6749 §4.1.2.1).
func (p *Provider) reportAuthorizeError(w http.ResponseWriter, r *http.Request, req *authzRequest, oerr *oauthError) bool {
	switch {
	case oerr == nil:
		return false
	case req == nil:
		renderError(w, http.StatusBadRequest, "Bad authorization request", oerr.Code+": "+oerr.Description)
	default:
		p.redirectError(w, r, req, oerr)
	}
	return true
}

// parseAuthorize validates an authorization request. It returns a nil request
// while the client and redirect URI are not established, and the request with
// an error for the problems that may be reported to the redirect URI.
func (p *Provider) parseAuthorize(v url.Values) (*authzRequest, *oauthError) {
	if len(v["client_id"]) > 1 || len(v["redirect_uri"]) > 1 {
		return nil, &oauthError{Code: "invalid_request", Description: "client_id and redirect_uri: must appear once"}
	}
	c := p.clients.get(v.Get("client_id"))
	if c == nil {
		return nil, &oauthError{Code: "invalid_request", Description: "client_id: unknown client; register it at " + p.issuer + pathRegister}
	}
	req := &authzRequest{client: c, redirectURI: v.Get("redirect_uri"), raw: url.Values{}}
	switch {
	case req.redirectURI == "" && len(c.RedirectURIs) != 1:
		return nil, &oauthError{Code: "invalid_request", Description: "redirect_uri: required, the client registered several"}
	case req.redirectURI == "":
		req.redirectURI = c.RedirectURIs[0]
	case !slices.Contains(c.RedirectURIs, req.redirectURI):
		return nil, &oauthError{Code: "invalid_request", Description: "redirect_uri: must exactly match a registered redirect URI"}
	}
	for _, k := range authzParams {
		if s := v.Get(k); s != "" {
			req.raw.Set(k, s)
		}
	}
	return req, p.checkAuthorize(v, req)
}

// checkAuthorize checks the parameters that follow the redirect URI.
func (p *Provider) checkAuthorize(v url.Values, req *authzRequest) *oauthError {
	for _, k := range authzParams[2:] {
		if len(v[k]) > 1 && k != "resource" {
			return &oauthError{Code: "invalid_request", Description: k + ": must appear once"}
		}
	}
	challenge := v.Get("code_challenge")
	resource, hasResource := v["resource"]
	switch {
	case v.Get("response_type") != "code":
		return &oauthError{Code: "unsupported_response_type", Description: "response_type: must be code"}
	case challenge == "":
		return &oauthError{Code: "invalid_request", Description: "code_challenge: required (PKCE with S256)"}
	case v.Get("code_challenge_method") != challengeS256:
		return &oauthError{Code: "invalid_request", Description: "code_challenge_method: must be S256"}
	case !isS256Challenge(challenge):
		return &oauthError{Code: "invalid_request", Description: "code_challenge: must be 43 base64url characters"}
	case hasResource && (len(resource) != 1 || resource[0] != p.audience):
		return &oauthError{Code: "invalid_target", Description: "resource: must be " + p.audience}
	case len(v.Get("nonce")) > maxNonceLen:
		return &oauthError{Code: "invalid_request", Description: "nonce: must not exceed 512 characters"}
	}
	granted, ok := p.grantScopes(v.Get("scope"))
	if !ok {
		return &oauthError{Code: "invalid_scope", Description: "scope: supported scopes are " + strings.Join(p.supported, " ")}
	}
	req.granted = granted
	return nil
}

// grantScopes grants the requested scopes the provider supports, or the
// configured scopes (Options.Scopes) if none was requested: OpenID Connect
// scopes only on request. Unsupported scopes are dropped (RFC 6749 §3.3); a
// request for nothing but unsupported scopes fails.
func (p *Provider) grantScopes(scope string) ([]string, bool) {
	requested := strings.Fields(scope)
	if len(requested) == 0 {
		return p.scopes, true
	}
	var granted []string
	for _, s := range requested {
		if slices.Contains(p.supported, s) && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return granted, len(granted) > 0 || len(p.supported) == 0
}

// isS256Challenge reports whether s looks like an S256 code challenge: the
// unpadded base64url encoding of 32 bytes.
func isS256Challenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, c := range s {
		if !isUnreserved(c) || c == '.' || c == '~' {
			return false
		}
	}
	return true
}

// isUnreserved reports whether c is an RFC 3986 unreserved character, the
// alphabet of PKCE verifiers.
func isUnreserved(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// issueCode stores a fresh authorization code and redirects to the client.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, req *authzRequest, user User) {
	code := rand.Text() + rand.Text()
	ac := &authCode{
		clientID:      req.client.id,
		redirectURI:   req.redirectURI,
		redirectGiven: req.raw.Has("redirect_uri"),
		challenge:     req.raw.Get("code_challenge"),
		user:          user,
		scopes:        req.granted,
		nonce:         req.raw.Get("nonce"),
		authTime:      p.now(),
		expires:       p.now().Add(codeTTL),
	}
	if err := p.codes.put(code, ac, p.now()); err != nil {
		p.redirectError(w, r, req, &oauthError{Code: "temporarily_unavailable", Description: err.Error()})
		return
	}
	p.logger.Info("devidp: demo user signed in", "user", user.Name, "client_id", req.client.id)
	p.redirect(w, r, req, url.Values{"code": {code}})
}

func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, req *authzRequest, oerr *oauthError) {
	p.redirect(w, r, req, url.Values{"error": {oerr.Code}, "error_description": {oerr.Description}})
}

// redirect sends the authorization response to the client's redirect URI,
// with state and the RFC 9207 issuer.
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, req *authzRequest, params url.Values) {
	u, err := url.Parse(req.redirectURI)
	if err != nil { // registered URIs were parsed at registration
		renderError(w, http.StatusInternalServerError, "Bad redirect URI", err.Error())
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if s := req.raw.Get("state"); s != "" {
		q.Set("state", s)
	}
	q.Set("iss", p.issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}
