package devidp

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// registrationResponse is the RFC 7591 §3.2.1 response.
type registrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	clientMetadata
}

// serveRegister is the RFC 7591 dynamic client registration endpoint.
func (p *Provider) serveRegister(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	var md clientMetadata
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&md); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeOAuthError(w, errBodyTooLarge())
			return
		}
		writeOAuthError(w, &oauthError{Code: "invalid_client_metadata", Description: "body: must be a JSON object of client metadata"})
		return
	}
	if oerr := normalizeClientMetadata(&md, p.refreshTTL > 0); oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	c := &client{clientMetadata: md, id: rand.Text(), issuedAt: p.now()}
	if md.TokenEndpointAuthMethod != authNone {
		c.secret = rand.Text() + rand.Text()
	}
	if evicted := p.clients.add(c); evicted != "" {
		p.logger.Info("devidp: client registration limit reached, evicted the oldest client", "client_id", evicted)
	}
	p.logger.Info("devidp: registered client", "client_id", c.id, "client_name", md.ClientName, "auth_method", md.TokenEndpointAuthMethod)
	writeJSON(w, http.StatusCreated, registrationResponseFor(c))
}

func registrationResponseFor(c *client) *registrationResponse {
	resp := &registrationResponse{ClientID: c.id, ClientIDIssuedAt: c.issuedAt.Unix(), clientMetadata: c.clientMetadata}
	if c.secret != "" {
		never := int64(0)
		resp.ClientSecret = c.secret
		resp.ClientSecretExpiresAt = &never
	}
	return resp
}

// normalizeClientMetadata checks the registration request and fills in the
// values the provider actually applies: the grant types are
// authorization_code, plus refresh_token when the client asked for it and
// the provider issues refresh tokens.
func normalizeClientMetadata(md *clientMetadata, refresh bool) *oauthError {
	if len(md.RedirectURIs) == 0 {
		return &oauthError{Code: "invalid_redirect_uri", Description: "redirect_uris: at least one is required"}
	}
	for i, uri := range md.RedirectURIs {
		if err := checkRedirectURI(uri); err != nil {
			return &oauthError{Code: "invalid_redirect_uri", Description: fmt.Sprintf("redirect_uris[%d]: %v", i, err)}
		}
	}
	switch md.TokenEndpointAuthMethod {
	case "":
		md.TokenEndpointAuthMethod = authNone
	case authNone, authPost, authBasic:
	default:
		return &oauthError{Code: "invalid_client_metadata", Description: "token_endpoint_auth_method: must be none, client_secret_post or client_secret_basic"}
	}
	if len(md.GrantTypes) > 0 && !slices.Contains(md.GrantTypes, grantAuthzCode) {
		return &oauthError{Code: "invalid_client_metadata", Description: "grant_types: must include authorization_code"}
	}
	if len(md.ResponseTypes) > 0 && !slices.Contains(md.ResponseTypes, "code") {
		return &oauthError{Code: "invalid_client_metadata", Description: "response_types: must include code, the only response type supported"}
	}
	wantsRefresh := slices.Contains(md.GrantTypes, grantRefresh)
	md.GrantTypes = []string{grantAuthzCode}
	if refresh && wantsRefresh {
		md.GrantTypes = append(md.GrantTypes, grantRefresh)
	}
	md.ResponseTypes = []string{"code"}
	return nil
}

// checkRedirectURI accepts https URIs and http URIs on a loopback host (any
// port), without fragment or user info. Custom schemes are refused.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return fmt.Errorf("%q: must be an absolute http(s) URL", raw)
	case u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q: must have no fragment or user info", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && authrule.IsLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%q: http is allowed only on a loopback host (127.0.0.1, localhost, [::1])", raw)
	}
	return fmt.Errorf("%q: scheme %q is not supported: use https or loopback http", raw, u.Scheme)
}
