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
		"allow_unapproved": false,
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

# The catalogue in the call phase: the gateway sends the entries of the
# target's server and of "*".
calling(inp, catalogue, token_scopes) := json.patch(inp, [
	{"op": "add", "path": "/catalogue", "value": [entry | some entry in catalogue; entry.server in {inp.server.name, "*"}]},
	{"op": "replace", "path": "/token/scopes", "value": token_scopes},
])

test_catalogue_scope_required if {
	inp := calling(tool_input("alice", "call", "notes__write_note"), demo_catalogue, ["notes:read"])
	authz.decision with input as inp == {
		"allow": false,
		"allow_unapproved": false,
		"reasons": ["token carries no scope that allows tool notes__write_note: ask for notes:write"],
		"required_scopes": ["notes:read", "notes:write"],
	}
}

test_catalogue_scope_present_allows if {
	authz.decision.allow with input as calling(tool_input("alice", "call", "notes__write_note"), demo_catalogue, ["notes:write"])
	authz.decision.allow with input as calling(tool_input("alice", "call", "notes__write_note"), demo_catalogue, ["notes:all"])
	authz.decision.allow with input as calling(tool_input("alice", "call", "notes__write_note"), demo_catalogue, ["mcp"])
	authz.decision.allow with input as calling(tool_input("alice", "call", "notes__read_note"), demo_catalogue, ["mcp:read"])
}

# Prompts and resources need level read; read-only tools too.
test_catalogue_levels if {
	read_only := ["notes:read"]
	authz.decision.allow with input as calling(tool_input("alice", "call", "notes__read_note"), demo_catalogue, read_only)
	authz.decision.allow with input as calling(prompt_input("alice", "call"), demo_catalogue, read_only)
	authz.decision.allow with input as calling(resource_input("alice", "call"), demo_catalogue, read_only)
	d := authz.decision with input as calling(tool_input("carol", "call", "notes__delete_note"), demo_catalogue, ["notes:write", "hr"])
	d.reasons == ["token carries no scope that allows tool notes__delete_note: ask for notes:all"]
	d.required_scopes == ["hr", "notes:all", "notes:write"]
	p := authz.decision with input as calling(prompt_input("alice", "call"), demo_catalogue, [])
	p.required_scopes == ["notes:read"]
}

# The lowest covering level; a scope of the server before one of "*"; then
# the first by name.
test_scope_to_ask if {
	write := tool_input("alice", "call", "notes__write_note")
	asked := [d.required_scopes |
		some catalogue in [
			[{"name": "z", "server": "notes", "level": "all"}, {"name": "y", "server": "notes", "level": "write"}],
			[{"name": "a", "server": "*", "level": "write"}, {"name": "y", "server": "notes", "level": "write"}],
			[{"name": "a", "server": "*", "level": "write"}, {"name": "b", "server": "*", "level": "all"}],
			[{"name": "n2", "server": "notes", "level": "write"}, {"name": "n1", "server": "notes", "level": "write"}],
			[{"name": "r", "server": "notes", "level": "read"}, {"name": "every", "server": "notes"}],
		]
		d := authz.decision with input as calling(write, catalogue, [])
	]
	asked == [["y"], ["y"], ["a"], ["n1"], ["every"]]
}

# When no scope of the catalogue covers the target, a step-up cannot help.
test_no_covering_scope if {
	catalogue := [{"name": "notes:read", "server": "notes", "level": "read"}]
	d := authz.decision with input as calling(tool_input("alice", "call", "notes__write_note"), catalogue, ["notes:read"])
	d == {
		"allow": false,
		"allow_unapproved": false,
		"reasons": ["no scope of the catalogue allows tool notes__write_note, which needs level write on server notes"],
		"required_scopes": [],
	}
}

# A user whose groups do not grant the target is not asked to step up:
# it would not help, and the challenge would tell the target exists.
test_no_step_up_without_access if {
	d := authz.decision with input as calling(tool_input("mallory", "call", "notes__read_note"), demo_catalogue, [])
	d.required_scopes == []
	"token carries no scope that allows tool notes__read_note: ask for notes:read" in d.reasons
	bob := authz.decision with input as calling(tool_input("bob", "call", "notes__write_note"), demo_catalogue, [])
	bob.required_scopes == []
}

test_no_catalogue_no_requirement if {
	authz.decision.allow with input as calling(tool_input("alice", "call", "notes__write_note"), [], [])
	authz.decision.allow with input as calling(tool_input("alice", "call", "notes__write_note"), [{"name": "hr", "server": "hr", "level": "all"}], [])
	authz.decision.allow with input as object.union(tool_input("alice", "call", "notes__write_note"), {"catalogue": null})
}

# Entries of other servers are ignored, should they be sent.
test_catalogue_entries_of_other_servers_ignored if {
	inp := object.union(tool_input("alice", "call", "notes__write_note"), {"catalogue": [{"name": "hr", "server": "hr", "level": "all"}]})
	authz.decision.allow with input as inp
}

test_catalogue_does_not_apply_to_lists if {
	inp := object.union(tool_input("alice", "list", "notes__write_note"), {"catalogue": demo_catalogue})
	authz.decision with input as inp == {"allow": true, "allow_unapproved": false, "reasons": ["group engineering grants tool notes__write_note"], "required_scopes": []}
}

test_catalogue_and_server_scopes_add_up if {
	cfg := with_scopes({"notes": ["mcp:notes"]})
	inp := calling(tool_input("alice", "call", "notes__write_note"), demo_catalogue, ["notes:read"])
	d := authz.decision with input as inp with data.mcpgate.config as cfg
	d.required_scopes == ["mcp:notes", "notes:read", "notes:write"]
}

# A client granted every scope it asks for (grant phase) can do exactly
# what the access rules allow (call phase): the demo outcome.
test_granted_scopes_give_the_demo_outcome if {
	mismatched := [[user, got, want] |
		some user, want in demo_outcome
		granted := authz.grant.scopes with input as grant_input(user, demo_scopes)
		got := {target |
			some target, inp in demo_inputs(user, "call")
			authz.decision.allow with input as calling(inp, demo_catalogue, granted)
		}
		got != want
	]
	mismatched == []
}
