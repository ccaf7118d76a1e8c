package devidp

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// StaticClient is a confidential client registered in advance, the way an
// application is registered at a corporate OpenID provider: mcpgate's own
// authorization server federating the employee's sign-in is one. It
// authenticates at the token endpoint with client_secret_basic or
// client_secret_post, and it may ask for an ID token (scope "openid").
type StaticClient struct {
	// ID is the client_id: visible ASCII, unique among the clients, and not
	// DevClientID.
	ID string
	// Secret is the client secret: non-empty visible ASCII. It is compared
	// in constant time.
	Secret string
	// RedirectURIs are the redirect URIs the client may name; a request's
	// redirect_uri must equal one of them exactly (it may be left out if
	// there is only one). Each is https, or http on a loopback host. At least
	// one is required.
	RedirectURIs []string
	// Name is shown on the sign-in page. If empty, the ID.
	Name string
}

// clientMetadata is the RFC 7591 §2 client metadata the provider keeps and
// echoes. Unknown fields are ignored.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
}

// client is a registered client.
type client struct {
	clientMetadata
	id       string
	secret   string // empty for public clients
	issuedAt time.Time
	// static marks a [StaticClient]: it may use either secret method.
	static bool
}

// authMethods returns the methods the client may authenticate with at the
// token endpoint: either secret method for a static client, the one it
// registered for a dynamically registered client.
func (c *client) authMethods() []string {
	if c.static {
		return []string{authBasic, authPost}
	}
	return []string{c.TokenEndpointAuthMethod}
}

// usesSecret reports whether the client authenticates with a secret, and so
// is told the HTTP Basic scheme when that fails.
func (c *client) usesSecret() bool { return c.secret != "" }

// staticClients converts the validated static clients, keyed by ID.
func staticClients(cs []StaticClient) map[string]*client {
	m := make(map[string]*client, len(cs))
	for _, sc := range cs {
		name := sc.Name
		if name == "" {
			name = sc.ID
		}
		m[sc.ID] = &client{
			clientMetadata: clientMetadata{
				RedirectURIs:  append([]string{}, sc.RedirectURIs...),
				GrantTypes:    []string{grantAuthzCode},
				ResponseTypes: []string{"code"},
				ClientName:    name,
			},
			id:     sc.ID,
			secret: sc.Secret,
			static: true,
		}
	}
	return m
}

// checkStaticClients reports every invalid static client.
func checkStaticClients(cs []StaticClient) error {
	var errs []error
	seen := make(map[string]bool, len(cs))
	for i, c := range cs {
		switch {
		case !isVisibleASCII(c.ID) || seen[c.ID]:
			errs = append(errs, fmt.Errorf("clients[%d].id: must be non-empty visible ASCII and unique", i))
		case c.ID == DevClientID:
			errs = append(errs, fmt.Errorf("clients[%d].id: must not be %s, the client of /dev/token tokens", i, DevClientID))
		}
		seen[c.ID] = true
		if !isVisibleASCII(c.Secret) {
			errs = append(errs, fmt.Errorf("clients[%d].secret: must be non-empty visible ASCII", i))
		}
		if len(c.RedirectURIs) == 0 {
			errs = append(errs, fmt.Errorf("clients[%d].redirect_uris: at least one is required", i))
		}
		for j, uri := range c.RedirectURIs {
			if err := checkRedirectURI(uri); err != nil {
				errs = append(errs, fmt.Errorf("clients[%d].redirect_uris[%d]: %w", i, j, err))
			}
		}
	}
	return errors.Join(errs...)
}

// isVisibleASCII reports whether s is non-empty and made of the RFC 6749
// VSCHAR characters (%x20-7E) that client identifiers and secrets use.
func isVisibleASCII(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return s != ""
}

// clientStore holds the clients: the static ones, fixed at creation, and the
// dynamically registered ones, of which it evicts the oldest beyond max. A
// flood of registrations can therefore never evict a static client, and a
// static ID is looked up first.
type clientStore struct {
	static map[string]*client
	mu     sync.Mutex
	byID   map[string]*client
	order  []string // oldest first
	max    int
}

func newClientStore(static []StaticClient, max int) *clientStore {
	return &clientStore{static: staticClients(static), byID: make(map[string]*client), max: max}
}

// add stores c and returns the id of the client it evicted, if any.
func (s *clientStore) add(c *client) (evicted string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[c.id] = c
	s.order = append(s.order, c.id)
	if len(s.order) > s.max {
		evicted = s.order[0]
		s.order = s.order[1:]
		delete(s.byID, evicted)
	}
	return evicted
}

func (s *clientStore) get(id string) *client {
	if c, ok := s.static[id]; ok {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}
