package devidp

import (
	"errors"
	"sync"
	"time"
)

// authCode is what an authorization code stands for. A code is bound to the
// client, the redirect URI and the PKCE challenge of the request that made it.
type authCode struct {
	clientID    string
	redirectURI string
	// redirectGiven records whether the authorization request named the
	// redirect URI; if it did, the token request must repeat it.
	redirectGiven bool
	challenge     string
	user          User
	scopes        []string
	// nonce is the OpenID Connect nonce of the request, repeated in the ID token.
	nonce string
	// authTime is when the user signed in: the ID token's auth_time.
	authTime time.Time
	expires  time.Time
}

// codeStore holds outstanding authorization codes. Codes are single-use:
// take removes a code whether or not its redemption then succeeds.
type codeStore struct {
	mu  sync.Mutex
	m   map[string]*authCode
	max int
}

var errTooManyCodes = errors.New("too many outstanding authorization codes")

func newCodeStore(max int) *codeStore {
	return &codeStore{m: make(map[string]*authCode), max: max}
}

// put stores c under code, first dropping codes that expired by now.
func (s *codeStore) put(code string, c *authCode, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
	if len(s.m) >= s.max {
		return errTooManyCodes
	}
	s.m[code] = c
	return nil
}

// take removes and returns the code, or nil if it is unknown or already used.
func (s *codeStore) take(code string) *authCode {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.m[code]
	delete(s.m, code)
	return c
}
