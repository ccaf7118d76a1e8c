package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// maxTokenForm bounds the body of a token or revocation request.
const maxTokenForm = 16 << 10

// tokenResponse is a successful token response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// readTokenForm reads a POSTed form body, refusing anything else.
func readTokenForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &oauthError{Code: "invalid_request", Description: "use POST", status: http.StatusMethodNotAllowed}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, errInvalidRequest("the body must be application/x-www-form-urlencoded")
	}
	if len(r.URL.RawQuery) > 0 {
		return nil, errInvalidRequest("parameters go in the body, not the URL")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if err := r.ParseForm(); err != nil {
		return nil, errInvalidRequest("the body could not be read as a form (at most 16 KiB)")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, errInvalidRequest("the parameter " + k + " is repeated")
		}
	}
	return r.PostForm, nil
}

// serveToken serves the authorization_code and refresh_token grants.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx, span := s.tracer.Start(r.Context(), "oauth.token")
	defer span.End()
	form, oerr := readTokenForm(w, r)
	if oerr == nil {
		var c *client
		c, oerr = s.authenticateClient(r, form)
		if oerr == nil {
			span.SetAttributes(attribute.String("oauth.client_id", c.id()), attribute.String("oauth.grant_type", form.Get("grant_type")))
			var resp *tokenResponse
			switch form.Get("grant_type") {
			case "authorization_code":
				resp, oerr = s.redeemCode(ctx, c, form)
			case "refresh_token":
				resp, oerr = s.refresh(ctx, r, c, form)
			default:
				oerr = &oauthError{Code: "unsupported_grant_type", Description: "use authorization_code or refresh_token"}
			}
			if oerr == nil {
				writeJSON(w, http.StatusOK, resp)
				return
			}
		}
	}
	span.SetAttributes(attribute.String("oauth.error", oerr.Code))
	s.log.Info("authserver: token request refused", "error", oerr.Code, "description", oerr.Description)
	writeOAuthError(w, oerr)
}

// redeemCode exchanges an authorization code, once, for tokens. A code
// presented a second time revokes the tokens issued for it (RFC 6749
// §4.1.2, OAuth 2.1 §4.1.3).
func (s *Server) redeemCode(ctx context.Context, c *client, form url.Values) (*tokenResponse, *oauthError) {
	code := form.Get("code")
	if code == "" || len(code) > 128 {
		return nil, errInvalidRequest("code is required")
	}
	key := hashKey(code)
	var rec codeRecord
	ok, err := s.rec.get(ctx, nsCode, key, &rec)
	if err != nil {
		return nil, errTemporarilyUnavailable()
	}
	if !ok {
		return nil, errInvalidGrant("the code is unknown or expired")
	}
	// The code's bindings are checked before it is spent: a thief who
	// holds the code but not the client's PKCE verifier cannot burn it
	// (and with it the client's sign-in).
	switch {
	case rec.Params.ClientID != c.id():
		return nil, errInvalidGrant("the code was issued to another client")
	case form.Get("redirect_uri") != rec.Params.RedirectURI:
		return nil, errInvalidGrant("redirect_uri differs from the authorization request's")
	case !pkceMatches(form.Get("code_verifier"), rec.Params.CodeChallenge):
		return nil, errInvalidGrant("code_verifier does not match the code_challenge")
	case form.Get("resource") != "" && form.Get("resource") != rec.Params.Resource:
		return nil, &oauthError{Code: "invalid_target", Description: "resource must be " + rec.Params.Resource}
	}
	first, err := s.opts.Store.Create(ctx, nsCodeUsed, key, []byte{1}, s.now().Add(codeTTL))
	if err != nil {
		return nil, errTemporarilyUnavailable()
	}
	if !first {
		s.log.Warn("authserver: authorization code used twice: its tokens are revoked", "client_id", rec.Params.ClientID, "sub", rec.Subject.Sub)
		s.revokeFamily(ctx, rec.Family)
		return nil, errInvalidGrant("the code was already used")
	}
	// The code's record stays until it expires: a second presentation
	// finds the family in it, to revoke the tokens issued now.
	s.touchRegistration(ctx, c)
	now := s.now()
	fam := familyRecord{ClientID: c.id(), ClientName: rec.Params.ClientName, Sub: rec.Subject.Sub,
		Generation: rec.Generation, Expires: now.Add(s.opts.RefreshMaxLifetime)}
	famJSON, _ := json.Marshal(&fam)
	created, err := s.opts.Store.Create(ctx, nsFamily, rec.Family, famJSON, fam.Expires)
	if err != nil {
		return nil, errTemporarilyUnavailable()
	}
	if !created { // revoked ahead by a second use of the code, racing this one
		return nil, errInvalidGrant("the code was already used")
	}
	return s.issueTokens(ctx, &refreshRecord{Family: rec.Family, ClientID: c.id(), Subject: rec.Subject,
		Scopes: rec.Granted, Resource: rec.Params.Resource}, rec.Granted, fam.Expires)
}

// pkceMatches checks an RFC 7636 S256 verifier against the challenge.
func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range verifier {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// issueTokens mints an access token with scopes and a new refresh token
// of rr's family.
func (s *Server) issueTokens(ctx context.Context, rr *refreshRecord, scopes []string, familyExpires time.Time) (*tokenResponse, *oauthError) {
	at, err := s.mint(rr.Subject, rr.ClientID, scopes)
	if err != nil {
		s.log.Error("authserver: sign access token", "err", err)
		return nil, &oauthError{Code: "server_error", status: http.StatusInternalServerError}
	}
	refresh := randomToken(32)
	expires := s.now().Add(s.opts.RefreshTokenTTL)
	if familyExpires.Before(expires) {
		expires = familyExpires
	}
	if err := s.rec.put(ctx, nsRefresh, hashKey(refresh), rr, expires); err != nil {
		return nil, errTemporarilyUnavailable()
	}
	return &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(s.opts.AccessTokenTTL / time.Second),
		RefreshToken: refresh, Scope: joinScopes(scopes)}, nil
}

// refresh rotates a refresh token. The old one is spent: presenting it
// again revokes the whole family. The grant is decided again by the
// Granter, within the scopes of the original grant.
func (s *Server) refresh(ctx context.Context, r *http.Request, c *client, form url.Values) (*tokenResponse, *oauthError) {
	raw := form.Get("refresh_token")
	if raw == "" || len(raw) > 128 {
		return nil, errInvalidRequest("refresh_token is required")
	}
	key := hashKey(raw)
	var rr refreshRecord
	ok, err := s.rec.get(ctx, nsRefresh, key, &rr)
	if err != nil {
		return nil, errTemporarilyUnavailable()
	}
	if !ok {
		return nil, errInvalidGrant("the refresh token is unknown, expired or revoked")
	}
	if rr.ClientID != c.id() {
		return nil, errInvalidGrant("the refresh token was issued to another client")
	}
	var fam familyRecord
	famOK, err := s.rec.get(ctx, nsFamily, rr.Family, &fam)
	if err != nil {
		return nil, errTemporarilyUnavailable()
	}
	if !famOK || fam.Revoked {
		return nil, errInvalidGrant("the refresh token was revoked")
	}
	// The family lives only as long as the consent it was issued under:
	// revoked (on the grants page) or expired, the employee signs in again.
	var cons consent
	consOK, err := s.rec.get(ctx, nsConsent, consentKey(fam.Sub, fam.ClientID), &cons)
	if err != nil {
		return nil, errTemporarilyUnavailable()
	}
	if !consOK || cons.Generation == "" || cons.Generation != fam.Generation {
		s.revokeFamily(ctx, rr.Family)
		return nil, errInvalidGrant("the consent to this client was revoked or has expired: sign in again")
	}
	// A malformed request is refused before the token is spent, so that
	// the client's retry is not taken for a replay.
	requested := rr.Scopes
	if sc := form.Get("scope"); sc != "" {
		var ok bool
		if requested, ok = parseScope(sc); !ok || !subset(requested, rr.Scopes) {
			return nil, &oauthError{Code: "invalid_scope", Description: "a refresh may only narrow the scopes granted"}
		}
	}
	if form.Get("resource") != "" && form.Get("resource") != rr.Resource {
		return nil, &oauthError{Code: "invalid_target", Description: "resource must be " + rr.Resource}
	}
	first, err := s.opts.Store.Create(ctx, nsRefreshUsed, key, []byte{1}, fam.Expires)
	if err != nil {
		return nil, errTemporarilyUnavailable()
	}
	if !first {
		s.log.Warn("authserver: refresh token used twice: its family is revoked", "client_id", rr.ClientID, "sub", rr.Subject.Sub)
		s.revokeFamily(ctx, rr.Family)
		return nil, errInvalidGrant("the refresh token was already used; every token of this sign-in is revoked")
	}
	granted, err := s.grant(ctx, &GrantRequest{Subject: rr.Subject, ClientID: rr.ClientID, ClientName: fam.ClientName, Requested: requested,
		Current: rr.Scopes, Reason: ReasonRefresh, Endpoint: "oauth/token", RemoteAddr: remoteAddr(r)})
	if err != nil {
		return nil, errInvalidGrant("your organisation's policy no longer grants these scopes")
	}
	// The new refresh token keeps the scopes of the one it replaces (RFC
	// 6749 §6): a narrower request, or a policy that grants less today,
	// narrows this access token only; the next refresh is decided again
	// within the original grant.
	return s.issueTokens(ctx, &rr, granted, fam.Expires)
}

// revokeFamily marks a refresh-token family revoked; its tokens are
// refused from then on.
func (s *Server) revokeFamily(ctx context.Context, family string) {
	var fam familyRecord
	ok, err := s.rec.get(ctx, nsFamily, family, &fam)
	if err == nil && !ok {
		// A code used twice before its first redemption finished: revoke
		// ahead, so the first redemption's tokens never work.
		fam.Expires = s.now().Add(s.opts.RefreshMaxLifetime)
	}
	fam.Revoked = true
	if err == nil {
		err = s.rec.put(ctx, nsFamily, family, &fam, fam.Expires)
	}
	if err != nil {
		s.log.Error("authserver: revoke a refresh-token family: the store failed", "err", err)
	}
}

// serveRevoke is RFC 7009 revocation. A refresh token revokes its family;
// an access token expires by itself (short-lived, not tracked). The
// answer is 200 whether or not the token was known.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	ctx, span := s.tracer.Start(r.Context(), "oauth.revoke")
	defer span.End()
	form, oerr := readTokenForm(w, r)
	var c *client
	if oerr == nil {
		c, oerr = s.authenticateClient(r, form)
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	tok := form.Get("token")
	if tok == "" {
		writeOAuthError(w, errInvalidRequest("token is required"))
		return
	}
	var rr refreshRecord
	if ok, err := s.rec.get(ctx, nsRefresh, hashKey(tok), &rr); err == nil && ok && rr.ClientID == c.id() {
		s.revokeFamily(ctx, rr.Family)
		s.log.Info("authserver: refresh token revoked by its client", "client_id", c.id(), "sub", rr.Subject.Sub)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
