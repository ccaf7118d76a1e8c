// Package policy decides every MCP request in-process with OPA.
//
// It owns the OPA engine (compiling Rego, prepared queries swapped
// atomically on reload, file watching, bundles through OPA's plugin
// manager), the input document a policy sees (Input), the Decision of
// data.mcpgate.authz.decision, the GrantDecision of
// data.mcpgate.authz.grant (the scopes an OAuth client gets, in
// authorization-server mode) and of data.mcpgate.authz.upstream_scopes
// (the scopes the gateway asks an upstream's authorization server for),
// and the decision log.
//
// It must never import gateway, and it must never allow on error: no policy
// loaded, an evaluation error, a timeout, an undefined or malformed decision
// all deny (and grant no scope), with a reason saying why. It does not
// intersect a grant with what was asked, nor upstream scopes with the
// server's upstream scope catalogue: its callers do. Policies may not reach the network:
// http.send, net.lookup_ip_addr and opa.runtime are refused when a policy is
// compiled.
//
// Decision logs never contain raw tool arguments unless the policy says so:
// without a data.system.log.mask rule every argument value is replaced by
// "[masked]" (keys are kept). A policy that defines the rule takes over
// masking, following OPA's decision-log mask convention.
package policy
