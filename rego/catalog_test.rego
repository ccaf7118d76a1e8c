package mcpgate.authz_test

import data.mcpgate.authz

# catalog_input is the list input of user for every tool of the demo, the
# summarize prompt and the note template, in that order (indexes 0-7).
catalog_input(user) := object.union(base(user, "list", "tools/list"), {"catalog": array.concat(
	[{"server": {"name": tools[name].server, "labels": {}}, "tool": object.union(tools[name], {"name": name})} |
		some name in sort(object.keys(tools))
	],
	[
		{"server": {"name": "notes", "labels": {}}, "prompt": prompt_input(user, "list").prompt},
		{"server": {"name": "notes", "labels": {}}, "resource": resource_input(user, "list").resource},
	],
)})

# visible_names names the visible entries of user's catalog.
visible_names(user) := {name |
	some i in authz.visible with input as catalog_input(user)
	entry := catalog_input(user).catalog[i]
	some kind in ["tool", "prompt", "resource"]
	name := object.get(entry[kind], "name", "")
}

test_visible_demo_users if {
	visible_names("alice") == {"notes__list_notes", "notes__read_note", "notes__write_note", "notes__summarize_note", "note"}
	visible_names("bob") == {"hr__lookup_employee", "hr__salary_report", "notes__list_notes", "notes__read_note", "notes__summarize_note", "note"}
	count(visible_names("carol")) == 8
	count(visible_names("mallory")) == 0
}

# Every entry is visible exactly when its own list decision allows it.
test_visible_is_the_list_decision if {
	every user in object.keys(users) {
		visible := authz.visible with input as catalog_input(user)
		every i, entry in catalog_input(user).catalog {
			single := object.union(base(user, "list", "tools/list"), entry)
			allowed := authz.decision.allow with input as single
			in_set(i, visible) == allowed
		}
	}
}

default in_set(_, _) := false

in_set(x, s) if x in s

test_visible_only_in_list_phase if {
	count(authz.visible) == 0 with input as json.patch(catalog_input("carol"), [{"op": "replace", "path": "/phase", "value": "call"}])
}

test_visible_refuses_malformed_entries if {
	inp := object.union(base("carol", "list", "tools/list"), {"catalog": [
		{"server": {"name": "notes", "labels": {}}},
		{"server": {"name": "notes", "labels": {}}, "tool": tools.notes__read_note, "prompt": prompt_input("carol", "list").prompt},
		{"server": {"name": "hr", "labels": {}}, "tool": object.union(tools.notes__read_note, {"name": "notes__read_note"})},
		{"server": {"name": "notes", "labels": {}}, "tool": "notes__read_note"},
	]})
	count(authz.visible) == 0 with input as inp
}

# Grants that only their own rules decide: a prompt granted at a tool level
# ("read" is enough for a prompt, which only reads), resources named
# exactly (an exact "false" beats a matching pattern), and an entry with a
# tool and a resource (two targets: hidden, whatever is granted).
test_visible_levels_and_exact_names if {
	groups := {"docs": {"servers": {"notes": {
		"prompts": {"summarize_note": "read", "*": "none"},
		"resources": {"notes://note/{id}": false, "notes://note/welcome": true, "notes://*": true},
		"tools": {"*": "all"},
	}}}}
	notes := {"name": "notes", "labels": {}}
	inp := object.union(base("alice", "list", "tools/list"), {
		"user": {"sub": "alice", "groups": ["docs"]},
		"catalog": [
			{"server": notes, "prompt": {"name": "notes__summarize_note", "upstream_name": "summarize_note", "server": "notes"}},
			{"server": notes, "prompt": {"name": "notes__other", "upstream_name": "other", "server": "notes"}},
			{"server": notes, "resource": {"uri": "notes://note/welcome", "server": "notes"}},
			{"server": notes, "resource": {"uri_template": "notes://note/{id}", "server": "notes"}},
			{"server": notes, "resource": {"uri": "notes://other", "server": "notes"}},
			{"server": notes, "tool": tools.notes__read_note, "resource": {"uri": "notes://note/welcome", "server": "notes"}},
			{"server": notes, "resource": {"uri": "notes://note/welcome", "server": "notes"}, "prompt": {"name": "p", "upstream_name": "summarize_note", "server": "notes"}},
			{"server": notes, "tool": tools.notes__delete_note},
		],
	})
	visible := authz.visible with input as inp with data.mcpgate.config.groups as groups
	visible == {0, 2, 4, 7}
	every i, entry in inp.catalog {
		single := object.union(object.remove(inp, ["catalog"]), entry)
		allowed := authz.decision.allow with input as single with data.mcpgate.config.groups as groups
		in_set(i, visible) == allowed
	}
}

# A tool or prompt is named by its upstream name only: one without it is
# not granted by a grant naming its uri (found in review: the list
# decision took a tool's uri for a resource's).
test_tool_without_upstream_name_is_not_named_by_uri if {
	groups := {"docs": {"servers": {"notes": {"tools": {"t1": "all"}, "prompts": {"t1": true}}}}}
	notes := {"name": "notes", "labels": {}}
	entries := [
		{"server": notes, "tool": {"name": "notes__x", "server": "notes", "uri": "t1", "annotations": {"readOnlyHint": true}}},
		{"server": notes, "prompt": {"name": "notes__x", "server": "notes", "uri_template": "t1"}},
	]
	inp := object.union(base("alice", "list", "tools/list"), {"user": {"sub": "alice", "groups": ["docs"]}, "catalog": entries})
	count(authz.visible) == 0 with input as inp with data.mcpgate.config.groups as groups
	every entry in entries {
		single := object.union(object.remove(inp, ["catalog"]), entry)
		not authz.decision.allow with input as single with data.mcpgate.config.groups as groups
	}
}

# Tool grants with one pattern, with several, and with exact names beside
# them: the most specific entry of a grant wins (an exact "none" hides a
# tool a pattern would show), across groups the best grant counts, and an
# entry without its server is decided as its own list decision decides it.
test_visible_patterns if {
	groups := {
		"one": {"servers": {"notes": {"tools": {"*": "write", "delete_note": "none"}}}},
		"several": {"servers": {"notes": {"tools": {"read_*": "read", "*_note": "all", "list_notes": "none"}}}},
	}
	notes := {"name": "notes", "labels": {}}
	entries := [{"server": notes, "tool": object.union(tools[name], {"name": name})} | some name in sort(object.keys(tools)); tools[name].server == "notes"]
	serverless := [{"tool": object.union(tools.notes__write_note, {"name": "notes__write_note"})}]
	expected := {
		"one": {"notes__list_notes", "notes__read_note", "notes__write_note"},
		"several": {"notes__delete_note", "notes__read_note", "notes__write_note"},
		"both": {"notes__delete_note", "notes__list_notes", "notes__read_note", "notes__write_note"},
	}
	every who, want in expected {
		member_of := object.get({"both": ["one", "several"]}, who, [who])
		inp := object.union(base("alice", "list", "tools/list"), {
			"user": {"sub": "alice", "groups": member_of},
			"catalog": array.concat(entries, serverless),
		})
		visible := authz.visible with input as inp with data.mcpgate.config.groups as groups
		{name | some i in visible; name := inp.catalog[i].tool.name} == want
		every i, entry in inp.catalog {
			single := object.union(object.remove(inp, ["catalog"]), entry)
			allowed := authz.decision.allow with input as single with data.mcpgate.config.groups as groups
			in_set(i, visible) == allowed
		}
	}
}

# Stricter than one decision per entry, never looser: an entry with a key
# beside its server and one target is hidden, and a grant whose section is
# a list (a data error on which every decision of that kind fails) hides
# that kind of the server, whatever other groups grant.
test_visible_stricter_than_decisions if {
	groups := {
		"good": {"servers": {"notes": {"tools": {"*": "all"}, "prompts": {"*": true}}}},
		"broken": {"servers": {"notes": {"tools": ["read_note"]}}},
	}
	notes := {"name": "notes", "labels": {}}
	read := object.union(tools.notes__read_note, {"name": "notes__read_note"})
	prompt := {"name": "notes__summarize_note", "upstream_name": "summarize_note", "server": "notes"}
	entries := [
		{"server": notes, "tool": read, "prompt": null},
		{"server": notes, "tool": read, "extra": 1},
		{"server": notes, "tool": read},
		{"server": notes, "prompt": prompt},
	]
	good := object.union(base("alice", "list", "tools/list"), {"user": {"sub": "alice", "groups": ["good"]}, "catalog": entries})
	authz.visible == {2, 3} with input as good with data.mcpgate.config.groups as groups
	every i in [0, 1] {
		authz.decision.allow with input as object.union(object.remove(good, ["catalog"]), entries[i]) with data.mcpgate.config.groups as groups
	}
	both := json.patch(good, [{"op": "replace", "path": "/user/groups", "value": ["good", "broken"]}])
	authz.visible == {3} with input as both with data.mcpgate.config.groups as groups
}
