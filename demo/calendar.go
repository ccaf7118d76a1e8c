package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/devidp"
)

// The calendar demo upstream: its name and the scopes of its tools.
const (
	// CalendarName is the name of the calendar demo upstream.
	CalendarName = "calendar"
	// ScopeCalendarRead lets a token call list_events.
	ScopeCalendarRead = "calendar.read"
	// ScopeCalendarWrite lets a token call create_event.
	ScopeCalendarWrite = "calendar.write"

	// DefaultCalendarRefreshTTL is the refresh token lifetime when
	// CalendarOptions.RefreshTokenTTL is zero.
	DefaultCalendarRefreshTTL = 24 * time.Hour

	// calendarAuthPath is where the calendar's authorization server is
	// mounted: its issuer is http://127.0.0.1:PORT/auth.
	calendarAuthPath = "/auth"
	// metadataPath is the RFC 9728 well-known prefix.
	metadataPath = "/.well-known/oauth-protected-resource"
)

// calendarScopes are the scopes the calendar supports, in the order they
// are advertised and challenged for.
var calendarScopes = []string{ScopeCalendarRead, ScopeCalendarWrite}

// CalendarOptions configures [StartCalendar]. A nil *CalendarOptions means
// the defaults.
type CalendarOptions struct {
	// RequireToken makes every request to /mcp need a valid token,
	// discovery (initialize, tools/list, ping, notifications) included. If
	// false, discovery is anonymous and only tools/call needs a token, so
	// that a gateway's shared catalog session can list the tools without
	// any employee's token.
	RequireToken bool
	// Users are the users who may sign in at the calendar's authorization
	// server. If nil, devidp.DemoUsers().
	Users []devidp.User
	// Clients are configured confidential clients, authenticating with
	// client_secret_basic or client_secret_post: the gateway's oauth
	// upstream with a configured client ID and secret, say. They get
	// refresh tokens. Clients that register themselves (RFC 7591) are
	// accepted as well. If nil, there are none.
	Clients []devidp.StaticClient
	// TokenTTL is the access token lifetime. If zero, devidp.DefaultTokenTTL.
	TokenTTL time.Duration
	// RefreshTokenTTL is the refresh token lifetime. If zero,
	// DefaultCalendarRefreshTTL.
	RefreshTokenTTL time.Duration
	// Logger receives the authorization server's announcements and the
	// refused tokens (never a token). If nil, slog.Default().
	Logger *slog.Logger
}

// Calendar is the running calendar demo upstream: an MCP server that is an
// OAuth protected resource (RFC 9728) with its own authorization server,
// the way GitHub's remote MCP server is. Each employee's events are their
// own: the tools act for the subject of the bearer token.
type Calendar struct {
	// Server is the MCP endpoint: Name is CalendarName, URL is
	// http://127.0.0.1:PORT/mcp, which is also the resource identifier and
	// the audience of the calendar's tokens.
	*Server
	// Issuer is the issuer identifier of the calendar's authorization
	// server, http://127.0.0.1:PORT/auth.
	Issuer string
	// MetadataURL is the protected resource metadata of /mcp,
	// http://127.0.0.1:PORT/.well-known/oauth-protected-resource/mcp, sent
	// as resource_metadata in every challenge.
	MetadataURL string

	idp  *devidp.Provider
	seen *authLog
}

// StartCalendar starts the calendar demo upstream on addr
// ("127.0.0.1:PORT"; port 0 picks one) and returns once it is listening.
// One listener serves:
//
//   - /mcp, the MCP endpoint (both protocol eras), where tools/call needs
//     a bearer token issued by the calendar's authorization server for
//     this URL: list_events needs calendar.read, create_event
//     calendar.write;
//   - /.well-known/oauth-protected-resource and
//     /.well-known/oauth-protected-resource/mcp, its RFC 9728 metadata;
//   - /auth/…, its authorization server (authn/devidp: RFC 8414 metadata,
//     RFC 7591 registration, authorization code with PKCE S256, RFC 8707
//     resource, refresh tokens), with its RFC 8414 metadata also at
//     /.well-known/oauth-authorization-server/auth.
//
// Cancelling ctx closes it as [Server.Close] does.
func StartCalendar(ctx context.Context, addr string, opts *CalendarOptions) (*Calendar, error) {
	if opts == nil {
		opts = &CalendarOptions{}
	}
	ln, err := listen(ctx, CalendarName, addr)
	if err != nil {
		return nil, err
	}
	origin := "http://" + ln.Addr().String()
	c := &Calendar{
		Issuer:      origin + calendarAuthPath,
		MetadataURL: origin + metadataPath + Path,
		seen:        newAuthLog(maxSeenAuthorization),
	}
	srv := NewCalendar()
	h, err := c.handler(opts, origin+Path, srv)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("demo: start %s: %w", CalendarName, err)
	}
	c.Server = serve(ctx, CalendarName, srv, ln, h)
	return c, nil
}

// handler builds the calendar's authorization server, token verifier and
// routes.
func (c *Calendar) handler(opts *CalendarOptions, resource string, srv *mcp.Server) (http.Handler, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	refreshTTL := opts.RefreshTokenTTL
	if refreshTTL == 0 {
		refreshTTL = DefaultCalendarRefreshTTL
	}
	idp, err := devidp.New(devidp.Options{
		Issuer: c.Issuer, Audience: resource, Users: opts.Users, Scopes: calendarScopes, Clients: opts.Clients,
		TokenTTL: opts.TokenTTL, RefreshTokenTTL: refreshTTL, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	// The verifier discovers the authorization server's keys over loopback
	// HTTP, as any resource server would; "at+jwt" keeps ID tokens out.
	verifier, err := authn.NewVerifier(authn.Config{
		Resource: resource,
		Issuers:  []authn.IssuerConfig{{Issuer: c.Issuer, TokenType: "at+jwt"}},
		Logger:   logger,
	})
	if err != nil {
		return nil, err
	}
	c.idp = idp
	gate := newCalendarGate(verifier, challengeOptions(c.MetadataURL, logger), opts.RequireToken, c.seen)
	mux := http.NewServeMux()
	mux.Handle(Path, http.NewCrossOriginProtection().Handler(gate.wrap(eraHandler(srv))))
	prm := protectedResourceMetadata(resource, c.Issuer)
	mux.Handle(metadataPath, prm)
	mux.Handle(metadataPath+Path, prm)
	mux.Handle(calendarAuthPath+"/", http.StripPrefix(calendarAuthPath, idp.Handler()))
	for _, p := range idp.WellKnownPaths() {
		mux.Handle(p, idp.Handler())
	}
	return mux, nil
}

// Token mints an access token for the calendar, as if user had signed in
// at its authorization server, with the given scopes (if none, both). It
// is for tests that call the calendar directly.
func (c *Calendar) Token(user string, scopes ...string) (string, error) {
	if len(scopes) == 0 {
		scopes = calendarScopes
	}
	tok, _, err := c.idp.TokenFor(user, &devidp.TokenOptions{Scopes: scopes})
	if err != nil {
		return "", fmt.Errorf("demo: calendar token: %w", err)
	}
	return tok, nil
}

// SeenAuthorization returns the raw Authorization header values /mcp has
// received, oldest first (the latest 1000), so that a test can prove which
// tokens reached the calendar, and that an employee's own token for the
// gateway never did.
func (c *Calendar) SeenAuthorization() []string { return c.seen.values() }

// challengeOptions are those of the calendar's RFC 6750 challenges.
func challengeOptions(metadataURL string, logger *slog.Logger) authn.MiddlewareOptions {
	return authn.MiddlewareOptions{ResourceMetadataURL: metadataURL, Scopes: calendarScopes, Logger: logger}
}

// protectedResourceMetadata is the calendar's RFC 9728 document.
func protectedResourceMetadata(resource, issuer string) http.Handler {
	return auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   []string{issuer},
		ScopesSupported:        calendarScopes,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mcpgate demo calendar",
	})
}
