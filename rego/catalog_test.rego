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
