package devidp

import (
	"crypto/rand"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// refreshFamily is one sign-in's grant, shared by every refresh token
// rotated from the first: revoking it revokes them all.
type refreshFamily struct {
	clientID string
	user     User
	// scopes are those of the sign-in; a refresh may narrow the access
	// token's scopes, never the family's.
	scopes  []string
	revoked bool
}

// refreshGrant is what one refresh token stands for.
type refreshGrant struct {
	family  *refreshFamily
	expires time.Time
	// used marks a token already rotated: presenting it again means it was
	// stolen or replayed (OAuth 2.1 §4.3.1), so the family is revoked.
	used bool
}

// refreshStore holds refresh tokens, used ones included until they expire,
// so that a replay is recognised.
type refreshStore struct {
	mu  sync.Mutex
	m   map[string]*refreshGrant
	max int
}

func newRefreshStore(max int) *refreshStore {
	return &refreshStore{m: make(map[string]*refreshGrant), max: max}
}

// issue stores a new refresh token of family f, valid for ttl from now.
// When the store is full it drops expired tokens, then the one closest to
// expiry.
func (s *refreshStore) issue(f *refreshFamily, now time.Time, ttl time.Duration) string {
	tok := rand.Text() + rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.evict(now)
	}
	s.m[tok] = &refreshGrant{family: f, expires: now.Add(ttl)}
	return tok
}

func (s *refreshStore) evict(now time.Time) {
	var soonest string
	for k, g := range s.m {
		if !now.Before(g.expires) {
			delete(s.m, k)
		} else if soonest == "" || g.expires.Before(s.m[soonest].expires) {
			soonest = k
		}
	}
	if len(s.m) >= s.max {
		delete(s.m, soonest)
	}
}

// rotate spends tok for the client clientID and returns its family. A
// token presented a second time revokes its family (RFC 6749 §10.4, OAuth
// 2.1 §4.3.1).
func (s *refreshStore) rotate(tok, clientID string, now time.Time) (*refreshFamily, *oauthError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.m[tok]
	grantErr := func(desc string) (*refreshFamily, *oauthError) {
		return nil, &oauthError{Code: "invalid_grant", Description: desc}
	}
	switch {
	case g == nil:
		return grantErr("refresh_token: unknown")
	case g.family.clientID != clientID:
		return grantErr("refresh_token: issued to another client")
	case g.family.revoked:
		return grantErr("refresh_token: revoked")
	case g.used:
		g.family.revoked = true
		return grantErr("refresh_token: already used; every token of this sign-in is revoked, sign in again")
	case !now.Before(g.expires):
		return grantErr("refresh_token: expired; sign in again")
	}
	g.used = true
	return g.family, nil
}

// checkRefreshRequest checks the shape of a refresh token grant.
func checkRefreshRequest(form url.Values, audience string) *oauthError {
	switch {
	case form.Get("refresh_token") == "":
		return &oauthError{Code: "invalid_request", Description: "refresh_token: required"}
	case form.Has("resource") && form.Get("resource") != audience:
		return &oauthError{Code: "invalid_target", Description: "resource: must be " + audience}
	}
	return nil
}

// refresh answers a refresh token grant: a new access token, with the
// requested scopes if they are within the sign-in's, and a new refresh
// token in place of the spent one.
func (p *Provider) refresh(c *client, form url.Values) (*tokenResponse, *oauthError) {
	if !p.issuesRefresh(c) {
		return nil, &oauthError{Code: "unauthorized_client", Description: "grant_type: this client did not register the refresh_token grant"}
	}
	f, oerr := p.refreshs.rotate(form.Get("refresh_token"), c.id, p.now())
	if oerr != nil {
		return nil, oerr
	}
	scopes := f.scopes
	if form.Has("scope") {
		scopes = strings.Fields(form.Get("scope"))
		for _, s := range scopes {
			if !slices.Contains(f.scopes, s) {
				return nil, &oauthError{Code: "invalid_scope", Description: "scope: may only narrow the sign-in's scopes: " + strings.Join(f.scopes, " ")}
			}
		}
	}
	tok, err := p.mint(f.user, c.id, p.audience, scopes)
	if err != nil {
		return nil, errSigning
	}
	return &tokenResponse{
		AccessToken:  tok,
		TokenType:    "Bearer",
		ExpiresIn:    int64(p.ttl.Seconds()),
		Scope:        strings.Join(scopes, " "),
		RefreshToken: p.refreshs.issue(f, p.now(), p.refreshTTL),
	}, nil
}

// issuesRefresh reports whether c gets refresh tokens: a static client
// always does, a registered one if it registered the grant.
func (p *Provider) issuesRefresh(c *client) bool {
	return p.refreshTTL > 0 && (c.static || slices.Contains(c.GrantTypes, grantRefresh))
}

// grantTypes are the grant types of the token endpoint.
func (p *Provider) grantTypes() []string {
	if p.refreshTTL > 0 {
		return []string{grantAuthzCode, grantRefresh}
	}
	return []string{grantAuthzCode}
}
