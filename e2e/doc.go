// Package e2e holds the end-to-end tests that run mcpgate against parts
// nobody here wrote: the official MCP conformance suite, the go-sdk
// conformance fixture and the TypeScript reference server
// (server-everything), Dex as an OpenID provider, and clients built on the
// TypeScript and Go SDKs signing in to the gateway's authorization server.
// They need Node 22 and the tools that scripts/install-tools.sh installs;
// without them they skip with a visible message, and in CI
// (MCPGATE_E2E_REQUIRED=1) they fail instead.
package e2e
