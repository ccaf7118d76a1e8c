package authserver

import (
	"context"
	"time"
)

// IssueDirect issues an access token for sub to clientID without a
// browser, after the Granter decided which of the requested scopes
// (all of the catalogue's if none) sub gets. It is for `mcpgate dev`'s
// POST /dev/token, which scripts use; a real deployment never calls it.
func (s *Server) IssueDirect(ctx context.Context, sub Subject, clientID string, requested []string) (token string, granted []string, ttl time.Duration, err error) {
	if len(requested) == 0 {
		for _, sc := range s.opts.Scopes {
			requested = append(requested, sc.Name)
		}
	}
	if sub.AuthTime.IsZero() {
		sub.AuthTime = s.now()
	}
	// A user granted nothing still gets a token, with no scope: the
	// policy then refuses their requests like anyone else's, which is what
	// a script trying the demo users expects to see.
	granted, _ = s.grant(ctx, &GrantRequest{Subject: sub, ClientID: clientID, ClientName: clientID,
		Requested: requested, Reason: ReasonAuthorize, Endpoint: "oauth/token"})
	token, err = s.mint(sub, clientID, granted)
	return token, granted, s.opts.AccessTokenTTL, err
}
