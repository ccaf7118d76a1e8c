# Argument constraints: engineers read files only under /shared/ and
# /projects/, search with bounded queries, and open issues only in the
# handbook and the eng-* repositories. Listing is never affected.
package mcpgate.examples.argument_constraints_test

import data.mcpgate.authz

cfg := data.examples.argument_constraints.mcpgate.config

request(phase, server, tool, annotations, args) := {
	"phase": phase,
	"method": {"list": "tools/list", "call": "tools/call"}[phase],
	"user": {"sub": "dev", "iss": "https://idp.example.com", "groups": ["engineering"], "claims": {}},
	"token": {"scopes": [], "aud": ["mcpgate"]},
	"server": {"name": server, "labels": {}},
	"tool": {"name": concat("__", [server, tool]), "upstream_name": tool, "server": server, "annotations": annotations},
	"arguments": args,
	"request": {"time": "2026-03-02T10:00:00Z"},
}

read_file(args) := request("call", "files", "read_file", {"readOnlyHint": true}, args)

create_issue(args) := request("call", "github", "create_issue", {"destructiveHint": false}, args)

search(args) := request("call", "files", "search", {"readOnlyHint": true}, args)

test_read_file_paths if {
	authz.decision.allow with input as read_file({"path": "/shared/plan.md"}) with data.mcpgate.config as cfg
	d := authz.decision with input as read_file({"path": "/etc/shadow"}) with data.mcpgate.config as cfg
	d.reasons == ["argument path must start with /shared/ or /projects/ (got /etc/shadow)"]
	e := authz.decision with input as read_file({"path": "/shared/../etc/shadow"}) with data.mcpgate.config as cfg
	e.reasons == ["argument path must not contain '..' (got /shared/../etc/shadow)"]
}

test_create_issue_repositories if {
	authz.decision.allow with input as create_issue({"repo": "acme/handbook"}) with data.mcpgate.config as cfg
	authz.decision.allow with input as create_issue({"repo": "acme/eng-api"}) with data.mcpgate.config as cfg
	d := authz.decision with input as create_issue({"repo": "acme/payroll"}) with data.mcpgate.config as cfg
	d.reasons == ["argument repo must be one of acme/handbook, acme/eng-* (got acme/payroll)"]
}

test_search_limits if {
	authz.decision.allow with input as search({"query": "roadmap", "limit": 50}) with data.mcpgate.config as cfg
	d := authz.decision with input as search({"query": "roadmap", "limit": 5000}) with data.mcpgate.config as cfg
	d.reasons == ["argument limit must be at most 50 (got 5000)"]
}

test_listing_ignores_arguments if {
	authz.decision.allow with input as request("list", "files", "read_file", {"readOnlyHint": true}, {"path": "/etc"})
		with data.mcpgate.config as cfg
}

test_levels_are_known if {
	data.mcpgate.authz_test.unknown_levels(cfg) == set()
}
