// Package conformance runs the MCP conformance suite (an npm package run
// under Node.js 22) against a server URL and parses its results. It is
// imported only by _test.go files.
package conformance
