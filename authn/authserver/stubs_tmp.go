package authserver

// TEMPORARY: replaced by the client-metadata work (clientmeta.go, cimd.go).

import (
	"context"
	"crypto/x509"
	"errors"
	"net/url"
	"slices"
	"time"
)

type ClientMetadata struct {
	ClientID                string   `json:"client_id,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
}

type metadataError struct{ Code, Description string }

func (e *metadataError) Error() string { return e.Description }

func (m *ClientMetadata) normalize(cimd bool) error {
	if len(m.RedirectURIs) == 0 {
		return &metadataError{"invalid_redirect_uri", "redirect_uris required"}
	}
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = "client_secret_basic"
		if cimd {
			m.TokenEndpointAuthMethod = "none"
		}
	}
	return nil
}

func redirectURIMatches(registered []string, got string) bool {
	return slices.Contains(registered, got)
}

func redirectHost(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return u.Host
}

type cimdOptions struct {
	AllowPrivate bool
	RootCAs      *x509.CertPool
	Now          func() time.Time
}
type cimdFetcher struct{}

func newCIMDFetcher(cimdOptions) *cimdFetcher { return &cimdFetcher{} }
func isCIMDClientID(id string, allowPrivate bool) bool {
	return len(id) > 8 && id[:8] == "https://"
}
func (f *cimdFetcher) fetch(ctx context.Context, id string) (*ClientMetadata, error) {
	return nil, errors.New("not yet")
}
