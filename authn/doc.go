// Package authn makes mcpgate an OAuth 2.1 resource server, as the MCP
// authorization specification requires of a protected MCP server.
//
// It owns:
//   - the Identity type, the only view of the caller that policy sees
//     (identity.go, claims.go);
//   - access-token verification against one or more OIDC issuers, with lazy
//     discovery, rate-limited JWKS refresh and a bounded cache of verified
//     tokens (config.go, verify.go, issuer.go, keys.go, cache.go, errors.go);
//   - the bearer middleware and RFC 6750 challenges, including the 403
//     insufficient_scope step-up challenge used by policy (bearer.go,
//     challenge.go);
//   - the RFC 9728 protected resource metadata document (metadata.go);
//   - the Origin allowlist and loopback Host check (origin.go).
//
// It must not:
//   - import gateway or policy (policy imports authn, never the reverse);
//   - accept a token from anywhere but the Authorization header, a token
//     whose audience is not this gateway, or an unsigned or HMAC-signed token
//     from an issuer without a configured shared secret;
//   - pass tokens on: the raw token never leaves Verify, is never logged
//     (at most a short SHA-256 prefix) and is never echoed in a response;
//   - authenticate by session: every request carries its own token.
//
// Everything fails closed: an identity provider that cannot be reached means
// its tokens are refused, never waved through.
package authn
