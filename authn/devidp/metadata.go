package devidp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
)

// serverMetadata is the RFC 8414 / OpenID Connect Discovery document. The
// same document is served at every discovery path.
type serverMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	RegistrationEndpoint                       string   `json:"registration_endpoint"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	ScopesSupported                            []string `json:"scopes_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported"`
}

// Client authentication methods at the token endpoint.
const (
	authNone  = "none"
	authPost  = "client_secret_post"
	authBasic = "client_secret_basic"
	algRS256  = "RS256"
)

func (p *Provider) initMetadata(iss *url.URL) error {
	md := serverMetadata{
		Issuer:                                     p.issuer,
		AuthorizationEndpoint:                      p.issuer + pathAuthorize,
		TokenEndpoint:                              p.issuer + pathToken,
		JWKSURI:                                    p.issuer + pathJWKS,
		RegistrationEndpoint:                       p.issuer + pathRegister,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        p.grantTypes(),
		CodeChallengeMethodsSupported:              []string{challengeS256},
		TokenEndpointAuthMethodsSupported:          []string{authNone, authPost, authBasic},
		ScopesSupported:                            p.supported,
		IDTokenSigningAlgValuesSupported:           []string{algRS256},
		SubjectTypesSupported:                      []string{"public"},
		ClaimsSupported:                            []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "azp", "client_id", "email", "name", "groups", "scope"},
		AuthorizationResponseIssParameterSupported: true,
		ClientIDMetadataDocumentSupported:          false,
	}
	if slices.Contains(p.supported, scopeOpenID) {
		md.ClaimsSupported = append(md.ClaimsSupported, idTokenClaims...)
	}
	b, err := json.Marshal(md)
	if err != nil {
		return err
	}
	p.metadata = b
	p.wellKnown = rootWellKnownPaths(iss.Path)
	return nil
}

// rootWellKnownPaths returns the discovery paths with the issuer's path
// inserted after the well-known prefix (RFC 8414 §3.1), which clients try at
// the root of the issuer's origin. An issuer at the root of its origin has
// none: its discovery paths are the bare root ones, which belong to whoever
// owns that origin's root (in authorization-server mode, the gateway).
func rootWellKnownPaths(issuerPath string) []string {
	if issuerPath == "" {
		return nil
	}
	return []string{pathASMetadata + issuerPath, pathOIDCConfig + issuerPath}
}

func (p *Provider) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if allowMethod(w, r, http.MethodGet) {
		writeRawJSON(w, http.StatusOK, p.metadata)
	}
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if allowMethod(w, r, http.MethodGet) {
		writeRawJSON(w, http.StatusOK, p.jwks)
	}
}

// writeRawJSON writes an already-encoded JSON body.
func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// writeJSON encodes v as the JSON body of an uncacheable response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "devidp: encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeRawJSON(w, status, b)
}
