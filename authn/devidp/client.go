package devidp

import (
	"sync"
	"time"
)

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
}

// clientStore holds registered clients, evicting the oldest beyond max.
type clientStore struct {
	mu    sync.Mutex
	byID  map[string]*client
	order []string // oldest first
	max   int
}

func newClientStore(max int) *clientStore {
	return &clientStore{byID: make(map[string]*client), max: max}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}
