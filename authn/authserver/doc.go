// Package authserver is mcpgate's authorization-server mode: the OAuth 2.1
// authorization server that MCP clients see, in front of a corporate
// OpenID Connect provider that allows neither Client ID Metadata Documents
// nor dynamic registration.
//
// Clients register with the gateway (a Client ID Metadata Document, RFC
// 7591 dynamic registration, or the configuration); employees sign in at
// the corporate IdP through the one client registered there for the
// gateway (authorization code with PKCE and a nonce; the ID token is
// verified with go-oidc); every scope grant — at /oauth/authorize, at
// every refresh and every step-up — is decided by a [Granter] (the policy
// engine's data.mcpgate.authz.grant), and every registration too. The
// employee consents per client on a page that names the client, its
// redirect host and the scopes asked and granted; consent is remembered
// and can be revoked at /oauth/grants.
//
// The gateway then issues its own short-lived JWT access tokens (RFC 9068,
// typ at+jwt) with aud = its MCP URL, signed with keys from the
// configuration and published at /oauth/jwks; the gateway's verifier
// checks them on the same path as tokens of an external issuer, with an
// in-process key set. Refresh tokens rotate on every use, and a refresh
// token used twice revokes its whole family.
//
// Every piece of state (registrations, pending sign-ins, consents, codes,
// refresh-token families) lives in a [store.Store], so it survives a
// restart and is shared by replicas.
package authserver
