// Package testtools holds the small, dependency-light helpers mcpgate's
// tests share: a locked buffer (SyncBuffer), a free loopback address
// (FreeAddr), processes started in their own process group and killed in
// t.Cleanup (StartProc, StartListening, StartServer, StartServerAt,
// ListeningAddrs), a round-robin load balancer (RoundRobin), and where the
// external tools that scripts/install-tools.sh installs are found
// (ToolsBin, NPMDir, Required, Missing). It imports only the standard
// library and no mcpgate package, so any package's unit tests may use it
// without linking a harness.
//
// The harnesses live in subpackages, so that only the tests that use one
// link it:
//
//	dex          the Dex OIDC provider
//	zitadel      zitadel/oidc's example OpenID provider (client credentials)
//	collector    the OpenTelemetry Collector and an OTLP sink
//	conformance  the MCP conformance suite: running it, parsing its results
//	everything   the reference servers (go-sdk fixture, TypeScript)
//	node         Node.js 22 and the pre-installed npm packages
//	devsignin    the development identity provider's sign-in, scripted
//	testidp      the development identity provider as a real issuer
//	postgres     a PostgreSQL server (Debian's package) per test
//
// All of them are imported only by _test.go files (and by each other).
// Every process they start runs in its own process group, which is killed
// in t.Cleanup, so a test leaves nothing behind.
//
// Environment (exported by .ci/run; all optional for a developer who ran
// bash scripts/install-tools.sh with the default cache):
//
//	MCPGATE_TOOLS_BIN     directory with everything-server, node22, dex and
//	                      otelcol-mcpgate (default: $MCPGATE_CACHE/bin,
//	                      $MCPGATE_CACHE defaulting to $HOME/.cache/mcpgate)
//	MCPGATE_NODE22        path to a Node.js 22 binary (default: $MCPGATE_TOOLS_BIN/node22)
//	MCPGATE_NPM_DIR       directory of npm prefixes (default: $MCPGATE_TOOLS_BIN/../npm)
//	MCPGATE_PG_BIN        directory with PostgreSQL's initdb and postgres
//	                      (default: the newest /usr/lib/postgresql/*/bin)
//	MCPGATE_E2E_REQUIRED  "1": a missing tool fails the test instead of skipping it
//
// Network: every server these packages start is reached only over
// 127.0.0.1; the go-sdk fixture is bound to 127.0.0.1 and the TypeScript
// server-everything, which binds all interfaces, is started with a clean
// environment (its get-env tool returns every variable it sees).
package testtools
