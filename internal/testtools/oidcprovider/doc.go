// Package oidcprovider runs node-oidc-provider (the npm package
// oidc-provider, installed by scripts/install-tools.sh) on a free loopback
// port, as a real authorization server that authenticates clients with
// private_key_jwt (RFC 7523 §2.2, OIDC Core §9): it verifies the client
// assertion's signature with the client's registered public keys, iss and
// sub (the client id), aud (its issuer or token endpoint), exp and jti
// (replays refused), and issues opaque access tokens with the client
// credentials grant, checked through its introspection endpoint. It also
// answers RFC 8693 token exchange for that client, with subject tokens it
// issued itself (SubjectClientID's); oidc-provider has no token exchange of
// its own, so that grant's handler is ours (provider.mjs), while client
// authentication stays oidc-provider's.
//
// It is imported only by _test.go files.
package oidcprovider
