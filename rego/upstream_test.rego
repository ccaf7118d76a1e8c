package mcpgate.authz_test

import data.mcpgate.authz

# An upstream scope catalogue of the notes server: one scope per level.
notes_upstream := [
	{"name": "notes.read", "description": "Read notes", "level": "read"},
	{"name": "notes.write", "level": "write"},
	{"name": "notes.admin", "level": "all"},
]

upstream_base(user) := {
	"phase": "upstream",
	"user": {"sub": user, "iss": "http://127.0.0.1:8080/dev", "groups": users[user], "claims": {}},
	"client": {"name": "test-client"},
	"server": {"name": "notes", "labels": {}},
	"upstream_scopes": notes_upstream,
	"request": {"time": "2026-03-02T10:00:00Z"},
}

# upstream_tool_input is a credential for a call to a demo tool.
upstream_tool_input(user, name) := object.union(upstream_base(user), {
	"method": "upstream/token",
	"server": {"name": tools[name].server, "labels": {}},
	"tool": object.union(tools[name], {"name": name}),
})

# upstream_connect_input is the connect page: no target.
upstream_connect_input(user) := object.union(upstream_base(user), {"method": "upstream/connect"})

upstream_scopes_of(inp) := scopes if {
	scopes := authz.upstream_scopes.scopes with input as inp
}

# For each demo user and notes tool: the upstream scopes of the lowest level
# that covers the tool, when the user's groups reach it for the tool.
test_demo_tool_upstream_scopes if {
	want := {
		"alice": {
			"notes__read_note": ["notes.read"],
			"notes__write_note": ["notes.write"],
			"notes__delete_note": [],
		},
		"bob": {
			"notes__read_note": ["notes.read"],
			"notes__write_note": [],
			"notes__delete_note": [],
		},
		"carol": {
			"notes__read_note": ["notes.read"],
			"notes__write_note": ["notes.write"],
			"notes__delete_note": ["notes.admin"],
		},
		"mallory": {
			"notes__read_note": [],
			"notes__write_note": [],
			"notes__delete_note": [],
		},
	}
	mismatched := [[user, tool, got, scopes] |
		some user, by_tool in want
		some tool, scopes in by_tool
		got := upstream_scopes_of(upstream_tool_input(user, tool))
		got != scopes
	]
	mismatched == []
}

# The connect page: every scope whose level the user's groups reach on
# the server.
test_demo_connect_upstream_scopes if {
	want := {
		"alice": ["notes.read", "notes.write"],
		"bob": ["notes.read"],
		"carol": ["notes.admin", "notes.read", "notes.write"],
		"mallory": [],
	}
	mismatched := [[user, got, scopes] |
		some user, scopes in want
		got := upstream_scopes_of(upstream_connect_input(user))
		got != scopes
	]
	mismatched == []
}

test_tool_reasons if {
	u := authz.upstream_scopes with input as upstream_tool_input("alice", "notes__write_note")
	u == {
		"scopes": ["notes.write"],
		"reasons": [
			"group engineering grants upstream scope notes.write: it has level write on tool notes__write_note of server notes",
			"upstream scope notes.admin refused: tool notes__write_note of server notes needs level write, which scope notes.write covers with less",
			"upstream scope notes.read refused: its level read does not cover tool notes__write_note of server notes, which needs level write",
		],
	}
}

test_refused_for_lack_of_level if {
	u := authz.upstream_scopes with input as upstream_tool_input("alice", "notes__delete_note")
	u.scopes == []
	"upstream scope notes.admin refused: no group of user alice (groups: engineering) has level all on tool notes__delete_note of server notes" in u.reasons
	count(u.reasons) == 3
}

test_connect_reasons if {
	u := authz.upstream_scopes with input as upstream_connect_input("bob")
	u == {
		"scopes": ["notes.read"],
		"reasons": [
			"group hr grants upstream scope notes.read: it has level read on server notes",
			"upstream scope notes.admin refused: no group of user bob (groups: hr) has level all on server notes",
			"upstream scope notes.write refused: no group of user bob (groups: hr) has level write on server notes",
		],
	}
}

test_mallory_gets_no_upstream_scope if {
	every inp in [
		upstream_connect_input("mallory"),
		upstream_tool_input("mallory", "notes__read_note"),
	] {
		u := authz.upstream_scopes with input as inp
		u.scopes == []
		count(u.reasons) > 0
	}
}

# Several scopes of the lowest covering level are all asked for.
test_every_scope_of_the_lowest_level if {
	inp := json.patch(upstream_tool_input("bob", "notes__read_note"), [{
		"op": "add", "path": "/upstream_scopes/-",
		"value": {"name": "notes.readonly", "level": "read"},
	}])
	upstream_scopes_of(inp) == ["notes.read", "notes.readonly"]
}

# A target needing more than any catalogue scope covers gets nothing.
test_no_covering_upstream_scope if {
	inp := json.patch(upstream_tool_input("carol", "notes__delete_note"), [{"op": "remove", "path": "/upstream_scopes/2"}])
	u := authz.upstream_scopes with input as inp
	u.scopes == []
	count(u.reasons) == 2
}

# Prompts and resources need read.
test_prompt_needs_read if {
	inp := object.union(upstream_base("bob"), {
		"method": "upstream/token",
		"prompt": {"name": "notes__summarize_note", "upstream_name": "summarize_note", "server": "notes"},
	})
	upstream_scopes_of(inp) == ["notes.read"]
}

# Labels count, for a target and on the connect page.
test_labels_count if {
	cfg := with_groups({"ops": {"labels": {"env": {"prod": {"tools": {"*": "write"}}}}}})
	connect := json.patch(upstream_connect_input("mallory"), [
		{"op": "replace", "path": "/user/groups", "value": ["ops"]},
		{"op": "replace", "path": "/server/labels", "value": {"env": "prod"}},
	])
	upstream_scopes_of(connect) == ["notes.read", "notes.write"] with data.mcpgate.config as cfg
	tool := json.patch(upstream_tool_input("mallory", "notes__write_note"), [
		{"op": "replace", "path": "/user/groups", "value": ["ops"]},
		{"op": "replace", "path": "/server/labels", "value": {"env": "prod"}},
	])
	upstream_scopes_of(tool) == ["notes.write"] with data.mcpgate.config as cfg
}

# A level for one tool does not count for another.
test_tool_grant_is_per_tool if {
	cfg := with_groups({"x": {"servers": {"notes": {"tools": {"delete_note": "all", "*": "read"}}}}})
	write := as_user(upstream_tool_input("mallory", "notes__write_note"), ["x"])
	upstream_scopes_of(write) == [] with data.mcpgate.config as cfg
	delete := as_user(upstream_tool_input("mallory", "notes__delete_note"), ["x"])
	upstream_scopes_of(delete) == ["notes.admin"] with data.mcpgate.config as cfg
}

test_target_of_another_server if {
	inp := json.patch(upstream_tool_input("carol", "notes__read_note"), [{"op": "replace", "path": "/server/name", "value": "hr"}])
	u := authz.upstream_scopes with input as inp
	u == {"scopes": [], "reasons": ["target belongs to server notes, not hr: no upstream scope granted"]}
}

test_two_targets_get_nothing if {
	inp := object.union(upstream_tool_input("carol", "notes__read_note"), {"prompt": {"name": "notes__summarize_note", "upstream_name": "summarize_note", "server": "notes"}})
	u := authz.upstream_scopes with input as inp
	u == {"scopes": [], "reasons": ["request names more than one target (prompt, tool): no upstream scope granted"]}
}

test_no_catalogue if {
	inp := json.remove(upstream_connect_input("carol"), ["upstream_scopes"])
	u := authz.upstream_scopes with input as inp
	u == {"scopes": [], "reasons": ["server notes has no upstream scope catalogue: no upstream scope to grant"]}
}

test_unknown_upstream_level_is_refused if {
	inp := json.patch(upstream_connect_input("carol"), [{"op": "replace", "path": "/upstream_scopes/0/level", "value": "admin"}])
	u := authz.upstream_scopes with input as inp
	u.scopes == ["notes.admin", "notes.write"]
	"upstream scope notes.read refused: its level admin is not read, write or all" in u.reasons
}

test_upstream_is_not_decided_by_decision if {
	d := authz.decision with input as upstream_connect_input("carol")
	not d.allow
	"phase upstream is decided by data.mcpgate.authz.upstream_scopes, not decision" in d.reasons
}

test_other_phases_get_the_default if {
	u := authz.upstream_scopes with input as grant_input("carol", ["notes:read"])
	u == {"scopes": [], "reasons": ["policy could not decide the upstream scopes"]}
}
