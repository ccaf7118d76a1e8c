// Package demo owns the built-in demo upstream MCP servers that
// `mcpgate dev` starts: notes, an in-memory notes store with tools, per-note
// resources, a resource template, resource subscriptions and a prompt; hr,
// a read-only directory of fictional employees with a sensitive salary
// report; and calendar ([StartCalendar]), each employee's own calendar,
// which is an OAuth protected resource with its own authorization server
// (authn/devidp, mounted under /auth on its listener) and accepts only
// tokens that server issued for it, the way GitHub's remote MCP server
// does.
//
// Each server is a real go-sdk Streamable HTTP server on its own loopback
// port, serving both protocol eras on /mcp: requests at protocol version
// 2026-07-28 or later go to a stateless handler, older ones to a stateful
// handler with sessions. The gateway's tests use these servers as realistic
// upstreams, so their data is fixed and their output deterministic.
//
// The package must not bind anything but 127.0.0.1, must not make network
// calls of its own (the calendar's token verifier reads its own
// authorization server's keys over loopback), and must not depend on the
// gateway: it is an upstream, not part of the request path.
package demo
