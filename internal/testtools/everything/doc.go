// Package everything starts the reference MCP servers the end-to-end tests
// put behind the gateway: the go-sdk conformance fixture (everything-server)
// and the TypeScript @modelcontextprotocol/server-everything. It is
// imported only by _test.go files.
package everything
