// Package node finds the Node.js 22 binary and the npm packages that
// scripts/install-tools.sh installs, for the harnesses that run them (the
// MCP conformance suite, the TypeScript server-everything). It is imported
// only by _test.go files and by other test harnesses.
package node
