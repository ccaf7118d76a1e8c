package devidp

import (
	"net/http"
	"strings"
	"time"
)

// devTokenResponse is the DESIGN §3 response of POST /dev/token.
type devTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// devTokenError is a /dev/token error: an RFC 6749-style error plus the
// users a script may ask for.
type devTokenError struct {
	oauthError
	Users []string `json:"users,omitempty"`
}

// DevTokenHandler serves POST /dev/token, mounted by the gateway at the root
// of its listener (not under the issuer's path): the form field "user" names
// a demo user and the answer is {"access_token", "token_type": "Bearer",
// "expires_in"}. Unknown or missing users get 400 with the list of demo users;
// methods other than POST get 405. Like [Provider.Handler], it serves loopback
// peers only.
func (p *Provider) DevTokenHandler() http.Handler {
	return loopbackOnly(http.HandlerFunc(p.serveDevToken))
}

func (p *Provider) serveDevToken(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	form, oerr := readForm(w, r)
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	name := form.Get("user")
	u, ok := p.byName[name]
	if !ok {
		names := p.Users()
		writeJSON(w, http.StatusBadRequest, devTokenError{
			oauthError: oauthError{Code: "invalid_request", Description: "user: must be one of " + strings.Join(names, ", ")},
			Users:      names,
		})
		return
	}
	var tok string
	var ttl time.Duration
	var err error
	if p.minter != nil {
		tok, ttl, err = p.minter(r.Context(), u)
	} else {
		tok, ttl, err = p.Token(name)
	}
	if err != nil {
		p.logger.Error("devidp: /dev/token: could not issue a token", "user", name, "err", err)
		writeOAuthError(w, &oauthError{Code: "server_error", Description: "could not sign the token", Status: http.StatusInternalServerError})
		return
	}
	p.logger.Info("devidp: issued a /dev/token token", "user", name)
	writeJSON(w, http.StatusOK, devTokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(ttl.Seconds())})
}
