# Engineers may change staging but only read production: servers labelled
# env=prod (the label comes from the gateway configuration). The label
# grant beats the "*" server pattern because it is more specific.
package mcpgate.examples.prod_readonly_test

import data.mcpgate.authz

cfg := data.examples.prod_readonly.mcpgate.config

call(groups, env, tool, annotations) := {
	"phase": "call",
	"method": "tools/call",
	"user": {"sub": "dev", "iss": "https://idp.example.com", "groups": groups, "claims": {}},
	"token": {"scopes": [], "aud": ["mcpgate"]},
	"server": {"name": "db", "labels": {"env": env}},
	"tool": {"name": concat("__", ["db", tool]), "upstream_name": tool, "server": "db", "annotations": annotations},
	"arguments": {},
	"request": {"time": "2026-03-02T10:00:00Z"},
}

read_only := {"readOnlyHint": true}

writes := {"destructiveHint": false}

test_engineers_write_on_staging if {
	authz.decision.allow with input as call(["engineering"], "staging", "insert_row", writes) with data.mcpgate.config as cfg
}

test_engineers_only_read_on_prod if {
	authz.decision.allow with input as call(["engineering"], "prod", "query", read_only) with data.mcpgate.config as cfg
	d := authz.decision with input as call(["engineering"], "prod", "insert_row", writes) with data.mcpgate.config as cfg
	d.reasons == ["group engineering may only use read-only tools of server db, and db__insert_row is not read-only"]
}

test_sre_writes_on_prod if {
	authz.decision.allow with input as call(["sre"], "prod", "drop_table", {}) with data.mcpgate.config as cfg
}

test_levels_are_known if {
	data.mcpgate.authz_test.unknown_levels(cfg) == set()
}
