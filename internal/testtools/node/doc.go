// Package node finds the Node.js 22 binary and the npm packages that
// scripts/install-tools.sh installs, for the harnesses and tests that run
// them (the MCP conformance suite, the TypeScript server-everything,
// scripted clients of the TypeScript SDK). It is imported only by _test.go
// files and by other test harnesses.
package node
