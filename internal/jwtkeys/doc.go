// Package jwtkeys turns the gateway's PEM signing keys into a JWS signer
// and the JSON Web Key Set that publishes them. It is shared by the
// authorization server's access tokens and the identity assertions sent
// to upstreams; it must not know what either token says.
package jwtkeys
