package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
)

// serveCallback is where the IdP sends the employee back. The state must
// name a pending sign-in started by this browser; it is used once.
func (s *Server) serveCallback(w http.ResponseWriter, r *http.Request) {
	ctx, span := s.tracer.Start(r.Context(), "oauth.callback")
	defer span.End()
	q := r.URL.Query()
	state := q.Get("state")
	var pa pendingAuth
	ok := false
	if isBase64URL(state, 12, 64) {
		var err error
		ok, err = s.rec.take(ctx, nsPending, state, &pa, s.now().Add(pendingTTL))
		if err != nil {
			s.storeFailure(w, err)
			return
		}
	}
	if !ok {
		s.errorPage(w, http.StatusBadRequest, "Sign-in expired",
			"This sign-in is unknown, was already used, or expired. Start again from your application.")
		return
	}
	s.clearCookie(w, bindingCookie(state), PathCallback)
	if !s.cookieMatches(r, bindingCookie(state), pa.BrowserHash) {
		s.log.Warn("authserver: sign-in came back to another browser than the one that started it; refused", "client_id", pa.Params.ClientID)
		s.errorPage(w, http.StatusBadRequest, "Sign-in refused",
			"This sign-in was started in another browser. Start again from your application.")
		return
	}
	if e := q.Get("error"); e != "" {
		s.log.Info("authserver: the IdP refused the sign-in", "error", truncate(e, 100), "description", truncate(q.Get("error_description"), 300))
		if pa.Grants {
			s.errorPage(w, http.StatusForbidden, "Sign-in refused", "Your organisation's sign-in refused: "+truncate(e, 100))
			return
		}
		s.redirectError(w, r, &pa.Params, &oauthError{Code: "access_denied", Description: "the identity provider refused the sign-in"})
		return
	}
	sub, err := s.idp.exchange(ctx, q.Get("code"), pa.Verifier, pa.Nonce)
	if err != nil {
		span.SetStatus(codes.Error, "sign-in at the IdP failed")
		s.log.Error("authserver: sign-in at the IdP failed", "err", err)
		msg := "Signing in with your organisation failed. Try again; if it persists, give your administrator the time of this attempt."
		if errors.Is(err, errOverage) {
			msg = "Signing in with your organisation failed: " + err.Error()
		}
		s.errorPage(w, http.StatusBadGateway, "Sign-in failed", msg)
		return
	}
	span.SetAttributes(attribute.String("enduser.id", sub.Sub))
	if pa.Grants {
		s.startSession(ctx, w, r, sub)
		return
	}
	s.afterSignIn(ctx, w, r, &pa.Params, sub)
}

// afterSignIn asks the Granter which scopes the client gets, then issues
// a code at once if the employee consented to those scopes before, or
// shows the consent page.
func (s *Server) afterSignIn(ctx context.Context, w http.ResponseWriter, r *http.Request, p *authzParams, sub Subject) {
	var prior consent
	hasPrior, err := s.rec.get(ctx, nsConsent, consentKey(sub.Sub, p.ClientID), &prior)
	if err != nil {
		s.storeFailure(w, err)
		return
	}
	reason := ReasonAuthorize
	if hasPrior && !subset(p.Scopes, prior.Scopes) {
		reason = ReasonStepUp
	}
	granted, err := s.grant(ctx, &GrantRequest{Subject: sub, ClientID: p.ClientID, ClientName: p.ClientName,
		Requested: p.Scopes, Current: prior.Scopes, Reason: reason, Endpoint: "oauth/authorize", RemoteAddr: remoteAddr(r)})
	if err != nil {
		s.redirectError(w, r, p, &oauthError{Code: "access_denied", Description: "your organisation's policy grants none of the requested scopes"})
		return
	}
	if hasPrior && subset(granted, prior.Scopes) && p.silentReconsent() {
		s.issueCode(ctx, w, r, p, sub, granted)
		return
	}
	binding := randomToken(24)
	id := randomToken(24)
	cr := consentRequest{Params: *p, Subject: sub, Granted: granted, BrowserHash: hashBytes(binding)}
	if err := s.rec.put(ctx, nsConsentReq, id, &cr, s.now().Add(pendingTTL)); err != nil {
		s.storeFailure(w, err)
		return
	}
	s.setCookie(w, consentCookie(id), binding, PathConsent, pendingTTL, http.SameSiteStrictMode)
	s.renderConsent(w, id, &cr, prior.Scopes)
}

// errNothingGranted is a grant of none of the requested scopes.
var errNothingGranted = errors.New("the policy grants none of the requested scopes")

// errGrantFailed is a Granter that could not decide: nothing is granted.
var errGrantFailed = errors.New("the policy could not decide the grant")

// grant asks the Granter and keeps what was both requested and in the
// catalogue. It fails with errGrantFailed when the Granter fails, whatever
// was requested, and with errNothingGranted when scopes were requested and
// none is granted. The decision is logged by the Granter; refusals are
// logged here too.
func (s *Server) grant(ctx context.Context, req *GrantRequest) (granted []string, err error) {
	ctx, span := s.tracer.Start(ctx, "oauth.grant")
	defer span.End()
	span.SetAttributes(attribute.String("oauth.client_id", req.ClientID), attribute.String("oauth.grant.reason", req.Reason),
		attribute.StringSlice("oauth.scopes.requested", req.Requested))
	scopes, reasons, err := s.opts.Granter.Grant(ctx, req)
	if err != nil {
		span.SetStatus(codes.Error, "grant decision failed")
		s.log.Error("authserver: grant decision failed; nothing granted", "client_id", req.ClientID, "sub", req.Subject.Sub, "err", err)
		return nil, errGrantFailed
	}
	granted = s.within(scopes, req.Requested)
	span.SetAttributes(attribute.StringSlice("oauth.scopes.granted", granted))
	if refused := slices.DeleteFunc(slices.Clone(req.Requested), func(x string) bool { return slices.Contains(granted, x) }); len(refused) > 0 {
		s.log.Info("authserver: scopes refused by policy", "client_id", req.ClientID, "sub", req.Subject.Sub,
			"reason", req.Reason, "refused", strings.Join(refused, " "), "policy_reasons", reasons)
	}
	if len(granted) == 0 && len(req.Requested) > 0 {
		return granted, errNothingGranted
	}
	return granted, nil
}

// consentCookie binds a consent page to the browser it was shown in.
func consentCookie(id string) string { return "mcpgate_consent_" + id[:12] }

// serveConsent takes the employee's answer on the consent page: a form
// post from the gateway's own page (cross-origin posts are refused before
// this runs), carrying a consent id that is single-use and bound to the
// browser by a SameSite=Strict cookie.
func (s *Server) serveConsent(w http.ResponseWriter, r *http.Request) {
	ctx, span := s.tracer.Start(r.Context(), "oauth.consent")
	defer span.End()
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "Malformed request", "The consent form could not be read.")
		return
	}
	id := r.PostForm.Get("consent")
	var cr consentRequest
	ok := false
	if isBase64URL(id, 12, 64) {
		var err error
		ok, err = s.rec.take(ctx, nsConsentReq, id, &cr, s.now().Add(pendingTTL))
		if err != nil {
			s.storeFailure(w, err)
			return
		}
	}
	if !ok || !s.cookieMatches(r, consentCookie(id), cr.BrowserHash) {
		s.errorPage(w, http.StatusBadRequest, "Consent expired",
			"This consent page is unknown, was already answered, expired, or was opened in another browser. Start again from your application.")
		return
	}
	s.clearCookie(w, consentCookie(id), PathConsent)
	if r.PostForm.Get("decision") != "allow" {
		span.SetAttributes(attribute.String("oauth.consent", "denied"))
		s.redirectErrorAfterConsent(w, r, &cr.Params, &oauthError{Code: "access_denied", Description: "the user denied the request"})
		return
	}
	span.SetAttributes(attribute.String("oauth.consent", "allowed"))
	if err := s.remember(ctx, &cr); err != nil {
		s.storeFailure(w, err)
		return
	}
	s.issueCode(ctx, w, r, &cr.Params, cr.Subject, cr.Granted)
}

// remember stores the employee's consent to the client, with the scopes
// consented before, and lists the client on the employee's grants page.
func (s *Server) remember(ctx context.Context, cr *consentRequest) error {
	ctx, unlock, err := s.lockUser(ctx, cr.Subject.Sub)
	if err != nil {
		return err
	}
	defer unlock()
	key := consentKey(cr.Subject.Sub, cr.Params.ClientID)
	var c consent
	if _, err := s.rec.get(ctx, nsConsent, key, &c); err != nil {
		return err
	}
	if c.Generation == "" {
		c.Generation = randomToken(16)
	}
	c.ClientName = cr.Params.ClientName
	c.RedirectTo = redirectHost(cr.Params.RedirectURI)
	c.Scopes = union(c.Scopes, cr.Granted)
	c.GrantedAt = s.now()
	if err := s.rec.put(ctx, nsConsent, key, &c, s.now().Add(s.opts.ConsentTTL)); err != nil {
		return err
	}
	var clients []string
	if _, err := s.rec.get(ctx, nsUserClients, hashKey(cr.Subject.Sub), &clients); err != nil {
		return err
	}
	if !slices.Contains(clients, cr.Params.ClientID) {
		clients = append(clients, cr.Params.ClientID)
	}
	return s.rec.put(ctx, nsUserClients, hashKey(cr.Subject.Sub), clients, s.now().Add(s.opts.ConsentTTL))
}

// issueCode sends the client its authorization code, bound to the
// client, the redirect URI, the PKCE challenge and a new refresh-token
// family (revoked if the code is ever presented twice).
func (s *Server) issueCode(ctx context.Context, w http.ResponseWriter, r *http.Request, p *authzParams, sub Subject, granted []string) {
	code := randomToken(32)
	rec := codeRecord{Params: *p, Subject: sub, Granted: granted, Family: randomToken(16)}
	gen, err := s.addFamily(ctx, sub.Sub, p.ClientID, rec.Family)
	rec.Generation = gen
	if errors.Is(err, errConsentGone) {
		s.redirectError(w, r, p, &oauthError{Code: "access_denied", Description: "the consent was revoked"})
		return
	} else if err != nil {
		s.storeFailure(w, err)
		return
	}
	if err := s.rec.put(ctx, nsCode, hashKey(code), &rec, s.now().Add(codeTTL)); err != nil {
		s.storeFailure(w, err)
		return
	}
	s.log.Info("authserver: authorization code issued", "client_id", p.ClientID, "sub", sub.Sub, "scopes", joinScopes(granted))
	s.redirectToClient(w, r, p, url.Values{"code": {code}})
}

// errConsentGone is a consent revoked while an authorization that relied
// on it was under way.
var errConsentGone = errors.New("the consent was revoked")

// addFamily records a refresh-token family under the consent, so that
// revoking the consent revokes it, and returns the consent's generation,
// which the family carries: a family issued under a consent that is no
// longer the current one is refused at refresh even if it dropped off
// Families. A code is issued only under a consent: if it was revoked
// meanwhile, errConsentGone.
func (s *Server) addFamily(ctx context.Context, sub, clientID, family string) (string, error) {
	ctx, unlock, err := s.lockUser(ctx, sub)
	if err != nil {
		return "", err
	}
	defer unlock()
	key := consentKey(sub, clientID)
	var c consent
	ok, err := s.rec.get(ctx, nsConsent, key, &c)
	if err != nil {
		return "", err
	}
	if !ok || c.Generation == "" {
		return "", errConsentGone
	}
	c.Families = append(c.Families, family)
	if len(c.Families) > maxFamiliesListed {
		c.Families = c.Families[len(c.Families)-maxFamiliesListed:]
	}
	return c.Generation, s.rec.put(ctx, nsConsent, key, &c, c.GrantedAt.Add(s.opts.ConsentTTL))
}

// maxFamiliesListed bounds a consent's list of families revoked with it;
// older families are refused by their generation.
const maxFamiliesListed = 100
