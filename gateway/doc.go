// Package gateway is the heart of mcpgate: it keeps a pool of sessions with
// the approved upstream MCP servers, aggregates their tools, prompts,
// resources and resource templates into one namespaced catalog, and serves
// that catalog on a single Streamable HTTP endpoint in both protocol eras.
//
// A caller sees a view: an *mcp.Server whose registered features forward to
// the pooled upstream sessions. Views are built from the catalog and cached;
// when an upstream's features change, every view is updated in place and the
// SDK notifies connected clients.
//
// The package never forwards a client's credentials: upstream requests are
// built from scratch and carry only the headers configured for that upstream.
// Authentication and policy plug in through [Options]; this package makes no
// security decision of its own beyond refusing what it cannot serve.
package gateway
