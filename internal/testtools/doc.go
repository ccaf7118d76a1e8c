// Package testtools holds helpers for mcpgate's end-to-end tests: it finds the
// external tools that scripts/install-tools.sh installs (the go-sdk
// conformance fixture, Node.js 22, the MCP conformance suite, the TypeScript
// server-everything), starts servers on loopback, and runs the conformance
// suite and parses its results.
//
// It is imported only by _test.go files. Every process it starts runs in its
// own process group, which is killed in t.Cleanup, so a test leaves nothing
// behind.
//
// Environment (exported by .ci/run; all optional for a developer who ran
// bash scripts/install-tools.sh with the default cache):
//
//	MCPGATE_TOOLS_BIN     directory with everything-server and node22
//	                      (default: $MCPGATE_CACHE/bin, $MCPGATE_CACHE
//	                      defaulting to $HOME/.cache/mcpgate)
//	MCPGATE_NODE22        path to a Node.js 22 binary (default: $MCPGATE_TOOLS_BIN/node22)
//	MCPGATE_NPM_DIR       directory of npm prefixes (default: $MCPGATE_TOOLS_BIN/../npm)
//	MCPGATE_E2E_REQUIRED  "1": a missing tool fails the test instead of skipping it
//
// Network: every server this package starts is reached only over
// 127.0.0.1; the go-sdk fixture is bound to 127.0.0.1 and the TypeScript
// server-everything, which binds all interfaces, is started with a clean
// environment (its get-env tool returns every variable it sees).
package testtools
