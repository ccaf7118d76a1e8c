package mcpgate.authz_test

import data.mcpgate.authz

with_scopes(scopes) := object.union(data.mcpgate.config, {"scopes": scopes})

with_token_scopes(inp, scopes) := json.patch(inp, [{"op": "replace", "path": "/token/scopes", "value": scopes}])

test_missing_scope_asks_for_every_scope_of_the_server if {
	cfg := with_scopes({"hr": ["hr:read", "hr:salary"], "*": ["mcp"]})
	inp := with_token_scopes(tool_input("bob", "call", "hr__salary_report"), ["mcp", "hr:read"])
	d := authz.decision with input as inp with data.mcpgate.config as cfg
	d == {
		"allow": false,
		"reasons": ["token lacks scope hr:salary required by server hr"],
		"required_scopes": ["hr:read", "hr:salary", "mcp"],
	}
}

test_all_scopes_present_allows if {
	cfg := with_scopes({"hr": ["hr:read"]})
	inp := with_token_scopes(tool_input("bob", "call", "hr__salary_report"), ["hr:read", "openid"])
	d := authz.decision with input as inp with data.mcpgate.config as cfg
	d.allow
	d.required_scopes == []
}

test_scopes_for_every_server if {
	cfg := with_scopes({"*": ["mcp", "notes"]})
	inp := with_token_scopes(tool_input("alice", "call", "notes__read_note"), [])
	d := authz.decision with input as inp with data.mcpgate.config as cfg
	d.reasons == ["token lacks scope mcp notes required by server notes"]
}

test_scopes_do_not_hide_tools if {
	cfg := with_scopes({"hr": ["hr:salary"]})
	inp := with_token_scopes(tool_input("bob", "list", "hr__salary_report"), [])
	d := authz.decision with input as inp with data.mcpgate.config as cfg
	d.allow
	d.required_scopes == []
}

test_scopes_without_access_still_deny if {
	cfg := with_scopes({"hr": ["hr:salary"]})
	d := authz.decision with input as tool_input("alice", "call", "hr__salary_report") with data.mcpgate.config as cfg
	not d.allow
	d.required_scopes == ["hr:salary"]
}
