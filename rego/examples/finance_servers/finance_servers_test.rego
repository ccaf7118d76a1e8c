# Finance may use only the servers labelled team=finance, and nobody else
# may: the empty grant under engineering's team=finance label takes those
# servers out of engineering's "*" grant.
package mcpgate.examples.finance_servers_test

import data.mcpgate.authz

cfg := data.examples.finance_servers.mcpgate.config

list(groups, server, team) := {
	"phase": "list",
	"method": "tools/list",
	"user": {"sub": "u", "iss": "https://idp.example.com", "groups": groups, "claims": {}},
	"token": {"scopes": [], "aud": ["mcpgate"]},
	"server": {"name": server, "labels": {"team": team}},
	"tool": {"name": concat("__", [server, "report"]), "upstream_name": "report", "server": server, "annotations": {"readOnlyHint": true}},
	"request": {"time": "2026-03-02T10:00:00Z"},
}

test_finance_uses_finance_servers if {
	authz.decision.allow with input as list(["finance"], "ledger", "finance") with data.mcpgate.config as cfg
}

test_finance_has_nothing_else if {
	d := authz.decision with input as list(["finance"], "wiki", "docs") with data.mcpgate.config as cfg
	d.reasons == ["no group of user u (groups: finance) grants access to server wiki"]
}

test_engineering_has_no_finance_server if {
	authz.decision.allow with input as list(["engineering"], "wiki", "docs") with data.mcpgate.config as cfg
	d := authz.decision with input as list(["engineering"], "ledger", "finance") with data.mcpgate.config as cfg
	d.reasons == ["group engineering has no grant for tool ledger__report"]
}

test_levels_are_known if {
	data.mcpgate.authz_test.unknown_levels(cfg) == set()
}
