package mcpgate.authz_test

import data.mcpgate.authz

console_input(method, groups) := {
	"phase": "console",
	"method": method,
	"user": {"sub": "u1", "email": "u@example.com", "groups": groups, "claims": {}},
	"request": {"time": "2026-03-02T10:00:00Z"},
}

test_admins_view_every_page if {
	every page in ["console/servers", "console/explorer", "console/decisions", "console/policy"] {
		d := authz.decision with input as console_input(page, ["admin"])
		d == {"allow": true, "allow_unapproved": false, "reasons": ["group admin may view the console"], "required_scopes": []}
	}
}

test_others_are_refused if {
	d := authz.decision with input as console_input("console/servers", ["engineering"])
	d.allow == false
	d.reasons == ["user u@example.com (groups: engineering) is in none of the groups that may use the console: admin"]
	not authz.decision.allow with input as console_input("console/servers", [])
}

test_revoke_needs_an_operator_group if {
	authz.decision.allow with input as console_input("console/revoke", ["admin"])
	cfg := object.union(data.mcpgate.config, {"console": {"groups": ["security"], "operator_groups": ["secops"]}})
	d := authz.decision with input as console_input("console/revoke", ["security"]) with data.mcpgate.config as cfg
	d.allow == false
	d.reasons == ["user u@example.com (groups: security) is in none of the groups that may revoke: secops"]
	authz.decision.allow with input as console_input("console/servers", ["security"]) with data.mcpgate.config as cfg
	authz.decision.allow with input as console_input("console/revoke", ["security", "secops"]) with data.mcpgate.config as cfg

	# An operator who may not view may not revoke either.
	not authz.decision.allow with input as console_input("console/revoke", ["secops"]) with data.mcpgate.config as cfg
}

test_nobody_without_configuration if {
	cfg := object.remove(data.mcpgate.config, ["console"])
	d := authz.decision with input as console_input("console/servers", ["admin"]) with data.mcpgate.config as cfg
	d.allow == false
	d.reasons == ["user u@example.com (groups: admin) is in none of the groups that may use the console: none is configured (data.mcpgate.config.console)"]
}

test_unknown_console_method if {
	d := authz.decision with input as console_input("console/delete_everything", ["admin"])
	d.allow == false
	"unknown console method console/delete_everything" in d.reasons
}

test_console_grants_nothing_over_mcp if {
	# Console groups are not MCP grants: a console method in another phase
	# is not allowed by the console rules.
	not authz.decision.allow with input as object.union(console_input("console/servers", ["admin"]), {"phase": "initialize"}) with data.mcpgate.config as object.remove(data.mcpgate.config, ["groups"])
}
