package mcpgate.authz_test

import data.mcpgate.authz

# with_approval is inp with its target's approval state.
with_approval(inp, state) := json.patch(inp, [{"op": "add", "path": concat("/", ["", target_kind(inp), "approval"]), "value": state}])

target_kind(inp) := kind if {
	some kind in ["tool", "prompt", "resource"]
	inp[kind]
}

admins_try_new := {"admin": ["new"]}

# allow_unapproved of inp's decision with the given approval data.
unapproved_ok(inp, grants) := d.allow_unapproved if {
	d := authz.decision with input as inp with data.mcpgate.config.approval.allow_unapproved as grants
}

# The shipped data lets nobody use a target before approval, and the
# library never denies one itself: the gateway decides from both fields.
test_shipped_data_lets_nobody_use_unapproved_targets if {
	every phase in ["list", "call"] {
		every state in ["new", "modified", "approved"] {
			every name, inp in demo_inputs("carol", phase) {
				d := authz.decision with input as with_approval(inp, state)
				allowed := name in demo_outcome.carol
				d.allow == allowed
				d.allow_unapproved == false
			}
		}
	}
}

test_a_listed_group_may_use_new_targets if {
	every phase in ["list", "call"] {
		every _, inp in demo_inputs("carol", phase) {
			unapproved_ok(with_approval(inp, "new"), admins_try_new) == true
		}
	}
}

# Only the states a group lists: "modified" is not "new", a target without
# a state (approval off for its server) gets false, and "approved" only when
# listed (the gateway does not ask for an approved target).
test_only_the_listed_states if {
	inp := tool_input("carol", "call", "notes__delete_note")
	unapproved_ok(with_approval(inp, "modified"), admins_try_new) == false
	unapproved_ok(inp, admins_try_new) == false
	unapproved_ok(with_approval(inp, "approved"), admins_try_new) == false
	unapproved_ok(with_approval(inp, "modified"), {"admin": ["new", "modified"]}) == true
	unapproved_ok(with_approval(inp, "approved"), {"admin": ["approved"]}) == true
}

# Only the user's groups: alice may write notes, but engineering is not
# listed; one listed group of several is enough.
test_only_listed_groups if {
	inp := with_approval(tool_input("alice", "call", "notes__write_note"), "new")
	authz.decision.allow with input as inp
	unapproved_ok(inp, admins_try_new) == false
	unapproved_ok(inp, {"admin": ["new"], "engineering": ["modified"]}) == false
	unapproved_ok(as_user(inp, ["hr", "engineering"]), {"engineering": ["new"]}) == true
}

# A denied request never gets allow_unapproved: alice may not delete notes,
# whatever her group may use before approval.
test_denied_requests_get_false if {
	inp := with_approval(tool_input("alice", "call", "notes__delete_note"), "new")
	d := authz.decision with input as inp with data.mcpgate.config.approval.allow_unapproved as {"engineering": ["new"]}
	d.allow == false
	d.allow_unapproved == false
	mallory := with_approval(tool_input("mallory", "list", "notes__read_note"), "new")
	unapproved_ok(mallory, {"engineering": ["new"]}) == false
}

# Outside the list and call phases it is false, allowed or not.
test_other_phases_get_false if {
	d := authz.decision with input as base("carol", "initialize", "initialize") with data.mcpgate.config.approval.allow_unapproved as admins_try_new
	d.allow == true
	d.allow_unapproved == false
	up := object.union(with_approval(tool_input("carol", "call", "notes__read_note"), "new"), {"phase": "upstream"})
	unapproved_ok(up, admins_try_new) == false
}

# Missing or malformed data grants nothing: no approval key, a state that
# is not in a list, groups sent as null.
test_missing_or_malformed_data_gives_false if {
	inp := with_approval(tool_input("carol", "call", "notes__read_note"), "new")
	cfg := object.remove(data.mcpgate.config, ["approval"])
	d := authz.decision with input as inp with data.mcpgate.config as cfg
	d.allow == true
	d.allow_unapproved == false
	unapproved_ok(inp, {"admin": "new"}) == false
	unapproved_ok(inp, {"admin": {"new": true}}) == false
	unapproved_ok(inp, null) == false
	nulls := json.patch(inp, [{"op": "replace", "path": "/user/groups", "value": null}])
	unapproved_ok(nulls, admins_try_new) == false
}

# The decision always has the key, a boolean, in every phase.
test_decision_always_has_allow_unapproved if {
	inputs := array.concat(
		[inp | some _, inp in demo_inputs("bob", "call")],
		[base("mallory", "initialize", "initialize"), object.union(base("carol", "list", "tools/list"), {"phase": "bogus"})],
	)
	every inp in inputs {
		is_boolean(authz.decision.allow_unapproved) with input as inp
	}
}

# visible ignores approval (the gateway asks decision for the entries that
# are not approved), so a new entry is listed as an approved one is.
test_visible_ignores_approval if {
	plain := catalog_input("bob")
	new := json.patch(plain, [{"op": "add", "path": sprintf("/catalog/%d/tool/approval", [i]), "value": "new"} |
		some i, entry in plain.catalog
		entry.tool
	])
	visible := authz.visible with input as plain
	count(visible) > 0
	authz.visible with input as new with data.mcpgate.config.approval.allow_unapproved as {} == visible
}
