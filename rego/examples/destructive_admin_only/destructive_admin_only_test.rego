# Everyone may use tools that do not destroy anything; destructive tools
# (and tools that do not say they are not) are for admins only.
package mcpgate.examples.destructive_admin_only_test

import data.mcpgate.authz

cfg := data.examples.destructive_admin_only.mcpgate.config

call(groups, tool, annotations) := {
	"phase": "call",
	"method": "tools/call",
	"user": {"sub": "u", "iss": "https://idp.example.com", "groups": groups, "claims": {}},
	"token": {"scopes": [], "aud": ["mcpgate"]},
	"server": {"name": "github", "labels": {}},
	"tool": {"name": concat("__", ["github", tool]), "upstream_name": tool, "server": "github", "annotations": annotations},
	"arguments": {},
	"request": {"time": "2026-03-02T10:00:00Z"},
}

test_employees_create if {
	authz.decision.allow with input as call(["employees"], "create_issue", {"destructiveHint": false}) with data.mcpgate.config as cfg
}

test_employees_may_not_destroy if {
	d := authz.decision with input as call(["employees"], "delete_repository", {"destructiveHint": true}) with data.mcpgate.config as cfg
	d.reasons == ["group employees may not use destructive tool github__delete_repository"]
	not authz.decision.allow with input as call(["employees"], "unannotated", {}) with data.mcpgate.config as cfg
}

test_admins_destroy if {
	authz.decision.allow with input as call(["employees", "admin"], "delete_repository", {"destructiveHint": true}) with data.mcpgate.config as cfg
}

test_levels_are_known if {
	data.mcpgate.authz_test.unknown_levels(cfg) == set()
}
