package mcpgate.authz_test

import data.mcpgate.authz

# with_groups is the shipped data with groups replaced.
with_groups(groups) := json.patch(data.mcpgate.config, [{"op": "replace", "path": "/groups", "value": groups}])

labelled(inp, labels) := json.patch(inp, [{"op": "replace", "path": "/server/labels", "value": labels}])

as_user(inp, groups) := json.patch(inp, [{"op": "replace", "path": "/user/groups", "value": groups}])

test_exact_server_beats_server_pattern if {
	cfg := with_groups({"x": {"servers": {
		"notes": {"tools": {"read_note": "read"}},
		"*": {"tools": {"*": "all"}},
	}}})
	inp := as_user(tool_input("mallory", "call", "notes__delete_note"), ["x"])
	d := authz.decision with input as inp with data.mcpgate.config as cfg
	d.reasons == ["group x has no grant for tool notes__delete_note"]
	authz.decision.allow with input as as_user(tool_input("mallory", "call", "notes__read_note"), ["x"])
		with data.mcpgate.config as cfg
}

test_label_beats_server_pattern if {
	cfg := with_groups({"engineering": {
		"servers": {"*": {"tools": {"*": "write"}}},
		"labels": {"env": {"prod": {"tools": {"*": "read"}}}},
	}})
	prod := labelled(tool_input("alice", "call", "notes__write_note"), {"env": "prod"})
	d := authz.decision with input as prod with data.mcpgate.config as cfg
	d.reasons == ["group engineering may only use read-only tools of server notes, and notes__write_note is not read-only"]
	dev := labelled(tool_input("alice", "call", "notes__write_note"), {"env": "dev"})
	authz.decision.allow with input as dev with data.mcpgate.config as cfg
}

test_empty_grant_takes_a_server_away if {
	cfg := with_groups({"engineering": {
		"servers": {"*": {"tools": {"*": "write"}}},
		"labels": {"team": {"finance": {}}},
	}})
	inp := labelled(tool_input("alice", "list", "notes__read_note"), {"team": "finance"})
	d := authz.decision with input as inp with data.mcpgate.config as cfg
	d.reasons == ["group engineering has no grant for tool notes__read_note"]
}

test_exact_tool_beats_tool_pattern if {
	cfg := with_groups({"admin": {"servers": {"notes": {"tools": {"*": "all", "delete_note": "none"}}}}})
	d := authz.decision with input as tool_input("carol", "call", "notes__delete_note") with data.mcpgate.config as cfg
	d.reasons == ["group admin has no grant for tool notes__delete_note"]
	authz.decision.allow with input as tool_input("carol", "call", "notes__read_note") with data.mcpgate.config as cfg
}

test_unknown_level_denies if {
	cfg := with_groups({"admin": {"servers": {"notes": {"tools": {"*": "all", "delete_note": "everything"}}}}})
	not authz.decision.allow with input as tool_input("carol", "call", "notes__delete_note") with data.mcpgate.config as cfg
}

test_tool_patterns if {
	cfg := with_groups({"engineering": {"servers": {"notes": {"tools": {"read_*": "read", "?ist_notes": "read"}}}}})
	authz.decision.allow with input as tool_input("alice", "call", "notes__read_note") with data.mcpgate.config as cfg
	authz.decision.allow with input as tool_input("alice", "call", "notes__list_notes") with data.mcpgate.config as cfg
	not authz.decision.allow with input as tool_input("alice", "call", "notes__write_note") with data.mcpgate.config as cfg
}

test_server_patterns if {
	cfg := with_groups({"engineering": {"servers": {"no*": {"tools": {"*": "read"}}}}})
	authz.decision.allow with input as tool_input("alice", "list", "notes__read_note") with data.mcpgate.config as cfg
	not authz.decision.allow with input as tool_input("alice", "list", "hr__salary_report") with data.mcpgate.config as cfg
}

test_prompt_exception if {
	cfg := with_groups({"engineering": {"servers": {"notes": {"prompts": {"*": true, "summarize_note": false}}}}})
	d := authz.decision with input as prompt_input("alice", "call") with data.mcpgate.config as cfg
	d.reasons == ["group engineering has no grant for prompt notes__summarize_note"]
}

test_prompt_level_string_is_enough if {
	cfg := with_groups({"engineering": {"servers": {"notes": {"prompts": {"summarize_note": "read"}}}}})
	authz.decision.allow with input as prompt_input("alice", "call") with data.mcpgate.config as cfg
}

test_resource_exact_template_and_pattern if {
	exact := with_groups({"engineering": {"servers": {"notes": {"resources": {"notes://note/{id}": true}}}}})
	authz.decision.allow with input as resource_input("alice", "list") with data.mcpgate.config as exact
	d := authz.decision with input as resource_input("alice", "call") with data.mcpgate.config as exact
	d.reasons == ["group engineering has no grant for resource notes://note/welcome"]

	pattern := with_groups({"engineering": {"servers": {"notes": {"resources": {"notes://note/*": true}}}}})
	authz.decision.allow with input as resource_input("alice", "call") with data.mcpgate.config as pattern
}

test_groups_add_up if {
	inp := as_user(tool_input("alice", "call", "notes__write_note"), ["hr", "engineering"])
	d := authz.decision with input as inp
	d.allow
	d.reasons == ["group engineering grants tool notes__write_note"]
	authz.decision.allow with input as as_user(tool_input("alice", "call", "hr__salary_report"), ["hr", "engineering"])
}

test_each_denying_group_gives_a_reason if {
	inp := as_user(tool_input("alice", "call", "notes__delete_note"), ["hr", "engineering"])
	d := authz.decision with input as inp
	d.reasons == [
		"group engineering may not use destructive tool notes__delete_note",
		"group hr may only use read-only tools of server notes, and notes__delete_note is not read-only",
	]
}

test_unknown_groups_are_ignored if {
	d := authz.decision with input as as_user(tool_input("alice", "list", "notes__read_note"), ["contractors"])
	d.reasons == ["no group of user alice (groups: contractors) grants access to server notes"]
}

initialize_input(user) := base(user, "initialize", "initialize")

test_a_user_with_grants_may_open_a_session_by_default if {
	d := authz.decision with input as initialize_input("alice")
	d == {"allow": true, "allow_unapproved": false, "reasons": ["group engineering has grants, so it may open sessions"], "required_scopes": []}
}

test_a_user_without_grants_may_not_open_a_session if {
	d := authz.decision with input as initialize_input("mallory")
	d.allow == false
	d.reasons == ["user mallory (groups: none) has no grant for any server: no group of theirs is in data.mcpgate.config.groups"]
	ungranted := object.union(initialize_input("mallory"), {"user": {"groups": ["visitors"]}})
	denied := authz.decision with input as ungranted
	denied.allow == false
}

test_session_groups if {
	cfg := object.union(data.mcpgate.config, {"initialize": {"groups": ["admin", "hr"]}})
	d := authz.decision with input as initialize_input("carol") with data.mcpgate.config as cfg
	d == {"allow": true, "allow_unapproved": false, "reasons": ["group admin may open sessions"], "required_scopes": []}
	denied := authz.decision with input as initialize_input("alice") with data.mcpgate.config as cfg
	denied.reasons == ["user alice (groups: engineering) is in none of the groups that may open a session: admin, hr"]
	not denied.allow
}

# The list phase depends only on the user and the target: rules that would
# deny every call leave every list decision as it was.
test_list_ignores_call_rules if {
	cfg := object.union(data.mcpgate.config, {
		"arguments": {"notes": {"read_note": {"id": {"values": ["other"], "required": true}}}},
		"conditions": {"*": {"hours": [{"days": ["Sunday"]}], "clients": ["nobody"]}},
		"scopes": {"*": ["never-granted"]},
	})
	mismatched := [[user, got] |
		some user, allowed in demo_outcome
		got := {target |
			some target, inp in demo_inputs(user, "list")
			authz.decision.allow with input as inp with data.mcpgate.config as cfg
		}
		got != allowed
	]
	mismatched == []
	calls := {[user, target] |
		some user, _ in demo_outcome
		some target, inp in demo_inputs(user, "call")
		authz.decision.allow with input as inp with data.mcpgate.config as cfg
	}
	calls == set()
}

# The example in docs/policy.md.
test_engineering_may_delete_with_all if {
	authz.decision.allow with input as tool_input("alice", "call", "notes__delete_note")
		with data.mcpgate.config.groups.engineering as {"servers": {"notes": {"tools": {"*": "all"}}}}
}
