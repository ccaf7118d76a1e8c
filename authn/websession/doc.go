// Package websession signs employees in to the gateway's own browser pages
// (the "connect" and "my connections" pages of oauth upstreams, later a
// console) through the organisation's OpenID Connect provider: the
// authorization code flow with PKCE (S256) and a nonce, the ID token
// verified with go-oidc (signature, issuer, audience = the client id,
// expiry, nonce), and the claims mapped to the same [authn.Identity] the
// MCP side builds from access tokens.
//
// The session lives in a cookie sealed with AES-256-GCM ([sealbox]):
// there is no server-side store, every replica sharing the keys serves it,
// and rotating the keys (a new first key, the old ones kept a while)
// keeps employees signed in. A session lasts Options.TTL from sign-in,
// whatever the ID token's exp: the ID token proves the sign-in, it does
// not bound the session (Entra ID and Okta issue one-hour ID tokens, which
// would sign employees out every hour). Signing out clears the cookie; a
// cookie copied before sign-out stays valid until it expires, as with any
// stateless session, so keep TTL short (default 8h) and rotate the keys
// to end every session at once.
//
// Cookies are HttpOnly, SameSite=Lax, Path=/. When BaseURL is https they
// are Secure and named with the __Host- prefix, which browsers accept only
// from a secure origin without a Domain attribute: no sibling subdomain
// can set or shadow them. On an http loopback BaseURL (local development)
// they are neither, as browsers refuse both on plain http.
//
// State-changing requests are protected three ways: [Manager.Require]
// refuses, for every method but GET, HEAD and OPTIONS, requests that are
// cross-origin by Sec-Fetch-Site or Origin ([http.CrossOriginProtection],
// BaseURL's origin trusted) or that do not carry the session's CSRF token
// (form field "csrf" or header X-CSRF-Token); SameSite=Lax keeps the
// session cookie off cross-site subresource requests and posts.
//
// Mounting, for the gateway's listener:
//
//	m, err := websession.New(ctx, websession.Options{Issuer: ..., ClientID: ..., BaseURL: cfg.PublicURL, Keys: keys})
//	for _, p := range m.Paths() {
//		mux.Handle(p, m.Handler())
//	}
//	mux.Handle("/connections", m.Require(connectionsPage))
//
// and a page handler reads the employee with [FromContext] and puts
// [Manager.CSRFToken] into each form it renders.
//
// It does not decide what a signed-in employee may do: pages ask the
// policy engine, as /mcp does.
package websession
