// Package authrule holds the sign-in and request-origin rules that both
// the configuration's validation (package config) and the running gateway
// (packages authn, gateway and cmd/mcpgate) apply: what a loopback host is,
// what an allowed origin is, which JWS algorithms are accepted and the
// defaults and limits of token verification. Defining each rule once keeps
// what validates identical to what runs.
//
// The package imports only the standard library, so that the YAML model
// can use it without pulling in the OIDC, JOSE, MCP or OpenTelemetry
// libraries. It must not grow anything that needs them.
package authrule
