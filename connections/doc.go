// Package connections connects employees to upstreams of auth kind oauth: MCP
// servers that want each employee's own OAuth token from their own
// authorization server (GitHub's, Atlassian's remote MCP servers). The
// gateway is the OAuth client; the employee authorizes it once, in a
// browser, on the gateway's connect page; the token is kept in the vault
// and sent to that upstream only.
//
// It owns:
//   - the connect flow (flow.go): a single-use ticket bound to the employee,
//     the server and the MCP request that needed it; the authorization code
//     grant with PKCE (S256), state bound to the employee, and RFC 8707
//     resource = the upstream; the callback that stores the token;
//   - discovery (discovery.go): the upstream's authorization server from its
//     protected-resource metadata (RFC 9728) or the configuration, its
//     metadata (RFC 8414, or OpenID Connect discovery), and the gateway's
//     client there: configured, or registered dynamically (RFC 7591);
//   - the tokens (tokens.go): sealed in the vault per (employee, upstream),
//     refreshed before they expire, dropped when refused;
//   - the connections page (pages.go): an employee sees and revokes their
//     connections.
//
// It must not:
//   - send an employee's gateway token anywhere, or one employee's upstream
//     token to another employee's requests;
//   - ask an authorization server for a scope outside what Options.Scopes
//     (policy) granted;
//   - accept a callback for an employee other than the one signed in, or a
//     ticket or state twice;
//   - log, trace or show a token, a refresh token, a verifier or a secret.
package connections
