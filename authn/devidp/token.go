package devidp

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// tokenResponse is the RFC 6749 §5.1 access token response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	// IDToken is the OpenID Connect ID token, for a code granted "openid".
	IDToken string `json:"id_token,omitempty"`
	// RefreshToken is issued to clients registered for the refresh_token
	// grant when Options.RefreshTokenTTL is set.
	RefreshToken string `json:"refresh_token,omitempty"`
}

// serveToken is the token endpoint. It supports the authorization code
// grant with PKCE S256 and, when refresh tokens are on, the refresh token
// grant.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	form, oerr := readForm(w, r)
	if oerr == nil {
		oerr = p.checkTokenRequest(form)
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	c, oerr := p.authenticateClient(r, form)
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	var resp *tokenResponse
	if form.Get("grant_type") == grantRefresh {
		resp, oerr = p.refresh(c, form)
	} else {
		resp, oerr = p.exchangeCode(c, form)
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// errSigning answers a token that could not be signed.
var errSigning = &oauthError{Code: "server_error", Description: "could not sign the token", Status: http.StatusInternalServerError}

// exchangeCode redeems the code of an authorization code grant.
func (p *Provider) exchangeCode(c *client, form url.Values) (*tokenResponse, *oauthError) {
	ac, oerr := p.redeemCode(c, form)
	if oerr != nil {
		return nil, oerr
	}
	resp, err := p.tokenResponse(ac, c)
	if err != nil {
		return nil, errSigning
	}
	return resp, nil
}

// tokenResponse mints the tokens for a redeemed code: an access token, an
// ID token if the code was granted "openid", and a refresh token if the
// client may have one.
func (p *Provider) tokenResponse(ac *authCode, c *client) (*tokenResponse, error) {
	tok, err := p.mint(ac.user, c.id, p.audience, ac.scopes)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(p.ttl.Seconds()), Scope: strings.Join(ac.scopes, " ")}
	if wantsIDToken(ac) {
		if resp.IDToken, err = p.mintIDToken(ac, c.id, tok); err != nil {
			return nil, err
		}
	}
	if p.issuesRefresh(c) {
		resp.RefreshToken = p.refreshs.issue(&refreshFamily{clientID: c.id, user: ac.user, scopes: ac.scopes}, p.now(), p.refreshTTL)
	}
	return resp, nil
}

// readForm reads a bounded application/x-www-form-urlencoded body in which
// no parameter repeats (RFC 6749 §3.2).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errBodyTooLarge()
		}
		return nil, &oauthError{Code: "invalid_request", Description: "body: must be application/x-www-form-urlencoded"}
	}
	for k, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, &oauthError{Code: "invalid_request", Description: k + ": must appear once"}
		}
	}
	return r.PostForm, nil
}

// checkTokenRequest checks the shape of a token request before any code or
// refresh token is consumed.
func (p *Provider) checkTokenRequest(form url.Values) *oauthError {
	switch gt := form.Get("grant_type"); {
	case gt == "":
		return &oauthError{Code: "invalid_request", Description: "grant_type: required"}
	case gt == grantRefresh && p.refreshTTL > 0:
		return checkRefreshRequest(form, p.audience)
	case gt != grantAuthzCode:
		return &oauthError{Code: "unsupported_grant_type", Description: "grant_type: supported are " + strings.Join(p.grantTypes(), ", ")}
	}
	return checkCodeRequest(form, p.audience)
}

// checkCodeRequest checks the shape of an authorization code grant.
func checkCodeRequest(form url.Values, audience string) *oauthError {
	switch {
	case form.Get("code") == "":
		return &oauthError{Code: "invalid_request", Description: "code: required"}
	case !isCodeVerifier(form.Get("code_verifier")):
		return &oauthError{Code: "invalid_request", Description: "code_verifier: required, 43 to 128 unreserved characters (PKCE)"}
	case form.Has("resource") && form.Get("resource") != audience:
		return &oauthError{Code: "invalid_target", Description: "resource: must be " + audience}
	}
	return nil
}

// basicChallenge answers a failed client authentication that used, or could
// have used, HTTP Basic (RFC 6749 §5.2).
const basicChallenge = `Basic realm="mcpgate-dev"`

// authenticateClient authenticates the client by a method it may use: the
// one a dynamically registered client registered (none, with client_id in
// the body, client_secret_post or client_secret_basic), or either secret
// method for a static client.
func (p *Provider) authenticateClient(r *http.Request, form url.Values) (*client, *oauthError) {
	id, secret, method := form.Get("client_id"), form.Get("client_secret"), authNone
	triedBasic := false
	if bid, bsecret, ok := r.BasicAuth(); ok {
		triedBasic = true
		if form.Has("client_secret") || (id != "" && id != unescapeBasic(bid)) {
			return nil, &oauthError{Code: "invalid_request", Description: "client authentication: use exactly one method"}
		}
		id, secret = unescapeBasic(bid), unescapeBasic(bsecret)
		if secret != "" {
			method = authBasic
		}
	} else if secret != "" {
		method = authPost
	}
	c := p.clients.get(id)
	fail := &oauthError{Code: "invalid_client", Status: http.StatusUnauthorized}
	if triedBasic || (c != nil && c.usesSecret()) {
		fail.Challenge = basicChallenge
	}
	switch {
	case id == "":
		fail.Description = "client_id: required"
	case c == nil:
		fail.Description = "client_id: unknown client"
	case !slices.Contains(c.authMethods(), method):
		fail.Description = "client authentication: this client uses " + strings.Join(c.authMethods(), " or ")
	case subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1:
		fail.Description = "client authentication: wrong client secret"
	default:
		return c, nil
	}
	return nil, fail
}

// unescapeBasic undoes the form encoding RFC 6749 §2.3.1 applies to HTTP
// Basic credentials.
func unescapeBasic(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// redeemCode consumes the code and checks that it was issued to this client,
// for this redirect URI, and that the PKCE verifier matches its challenge.
func (p *Provider) redeemCode(c *client, form url.Values) (*authCode, *oauthError) {
	ac := p.codes.take(form.Get("code"))
	grantErr := func(desc string) (*authCode, *oauthError) {
		return nil, &oauthError{Code: "invalid_grant", Description: desc}
	}
	redirectURI, hasRedirect := form.Get("redirect_uri"), form.Has("redirect_uri")
	switch {
	case ac == nil:
		return grantErr("code: unknown or already used")
	case !p.now().Before(ac.expires):
		return grantErr("code: expired")
	case ac.clientID != c.id:
		return grantErr("code: issued to another client")
	case (ac.redirectGiven || hasRedirect) && redirectURI != ac.redirectURI:
		return grantErr("redirect_uri: must match the authorization request")
	case !verifierMatches(form.Get("code_verifier"), ac.challenge):
		return grantErr("code_verifier: does not match the code challenge")
	}
	return ac, nil
}

// isCodeVerifier reports whether v is a well-formed RFC 7636 code verifier.
func isCodeVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !isUnreserved(c) {
			return false
		}
	}
	return true
}

func verifierMatches(verifier, challenge string) bool {
	got := oauth2.S256ChallengeFromVerifier(verifier)
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
