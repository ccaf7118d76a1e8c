package mcpgate.authz_test

import data.mcpgate.authz

# Demo users (DESIGN §3) and the demo upstreams' targets, as the gateway
# describes them in the input document.
users := {
	"alice": ["engineering"],
	"bob": ["hr"],
	"carol": ["admin"],
	"mallory": [],
}

tools := {
	"notes__list_notes": {"server": "notes", "upstream_name": "list_notes", "annotations": {"readOnlyHint": true}},
	"notes__read_note": {"server": "notes", "upstream_name": "read_note", "annotations": {"readOnlyHint": true}},
	"notes__write_note": {"server": "notes", "upstream_name": "write_note", "annotations": {"readOnlyHint": false, "destructiveHint": false}},
	"notes__delete_note": {"server": "notes", "upstream_name": "delete_note", "annotations": {"destructiveHint": true}},
	"hr__lookup_employee": {"server": "hr", "upstream_name": "lookup_employee", "annotations": {"readOnlyHint": true}},
	"hr__salary_report": {"server": "hr", "upstream_name": "salary_report", "annotations": {"readOnlyHint": true}},
}

# Arguments that pass the shipped argument rules.
call_arguments := {
	"notes__read_note": {"id": "welcome"},
	"notes__write_note": {"id": "todo", "body": "buy milk"},
	"notes__delete_note": {"id": "todo"},
	"hr__lookup_employee": {"id": "E1003"},
	"hr__salary_report": {"department": "Sales"},
}

base(user, phase, method) := {
	"phase": phase,
	"method": method,
	"user": {"sub": user, "iss": "http://127.0.0.1:8080/dev", "groups": users[user], "claims": {}},
	"token": {"scopes": ["mcp"], "aud": ["mcpgate"]},
	"client": {"name": "test-client"},
	"request": {"time": "2026-03-02T10:00:00Z"},
}

tool_input(user, phase, name) := object.union(base(user, phase, {"list": "tools/list", "call": "tools/call"}[phase]), {
	"server": {"name": tools[name].server, "labels": {}},
	"tool": object.union(tools[name], {"name": name}),
	"arguments": object.get(call_arguments, name, {}),
}) if phase == "call"

tool_input(user, phase, name) := object.union(base(user, phase, "tools/list"), {
	"server": {"name": tools[name].server, "labels": {}},
	"tool": object.union(tools[name], {"name": name}),
}) if phase == "list"

prompt_input(user, phase) := object.union(base(user, phase, {"list": "prompts/list", "call": "prompts/get"}[phase]), {
	"server": {"name": "notes", "labels": {}},
	"prompt": {"name": "notes__summarize_note", "upstream_name": "summarize_note", "server": "notes"},
})

resource_input(user, "list") := object.union(base(user, "list", "resources/templates/list"), {
	"server": {"name": "notes", "labels": {}},
	"resource": {"uri_template": "notes://note/{id}", "name": "note", "server": "notes"},
})

resource_input(user, "call") := object.union(base(user, "call", "resources/read"), {
	"server": {"name": "notes", "labels": {}},
	"resource": {"uri": "notes://note/welcome", "server": "notes"},
})

# demo_inputs maps a target name to its input for user in phase.
demo_inputs(user, phase) := object.union(
	{name: tool_input(user, phase, name) | some name, _ in tools},
	{"notes__summarize_note": prompt_input(user, phase), "notes://note/{id}": resource_input(user, phase)},
)

notes_all := {"notes__list_notes", "notes__read_note", "notes__write_note", "notes__delete_note", "notes__summarize_note", "notes://note/{id}"}

hr_all := {"hr__lookup_employee", "hr__salary_report"}

# The demo policy outcome of DESIGN §3, the same in both phases.
demo_outcome := {
	"alice": notes_all - {"notes__delete_note"},
	"bob": (hr_all | {"notes__list_notes", "notes__read_note", "notes__summarize_note", "notes://note/{id}"}),
	"carol": (notes_all | hr_all),
	"mallory": set(),
}

# Every user in every phase: a comprehension, so that one matching pair
# cannot stand for all of them.
test_demo_outcome if {
	mismatched := [[user, phase, got, want] |
		some phase in ["list", "call"]
		some user, want in demo_outcome
		got := {target |
			some target, inp in demo_inputs(user, phase)
			authz.decision.allow with input as inp
		}
		got != want
	]
	mismatched == []
	count(demo_outcome) == 4
}

test_demo_denials_have_reasons if {
	silent := [[user, phase, target] |
		some phase in ["list", "call"]
		some user, allowed in demo_outcome
		some target, inp in demo_inputs(user, phase)
		not target in allowed
		d := authz.decision with input as inp
		count(d.reasons) == 0
	]
	silent == []
}

test_alice_delete_note_reason if {
	d := authz.decision with input as tool_input("alice", "call", "notes__delete_note")
	d == {
		"allow": false,
		"allow_unapproved": false,
		"reasons": ["group engineering may not use destructive tool notes__delete_note"],
		"required_scopes": [],
	}
}

test_allow_names_the_granting_group if {
	d := authz.decision with input as tool_input("alice", "list", "notes__write_note")
	d.allow
	d.reasons == ["group engineering grants tool notes__write_note"]
}

test_alice_has_nothing_of_hr if {
	d := authz.decision with input as tool_input("alice", "list", "hr__salary_report")
	d.reasons == ["no group of user alice (groups: engineering) grants access to server hr"]
}

test_mallory_reason_names_no_groups if {
	d := authz.decision with input as tool_input("mallory", "call", "notes__read_note")
	d.reasons == ["no group of user mallory (groups: none) grants access to server notes"]
}

# The gateway encodes empty lists and maps as null.
test_nulls_for_empty_lists if {
	inp := json.patch(tool_input("mallory", "call", "notes__read_note"), [
		{"op": "replace", "path": "/user/groups", "value": null},
		{"op": "replace", "path": "/user/claims", "value": null},
		{"op": "replace", "path": "/token/scopes", "value": null},
		{"op": "replace", "path": "/token/aud", "value": null},
		{"op": "replace", "path": "/server/labels", "value": null},
	])
	d := authz.decision with input as inp
	d.reasons == ["no group of user mallory (groups: none) grants access to server notes"]
	carol := json.patch(inp, [{"op": "replace", "path": "/user/groups", "value": ["admin"]}])
	authz.decision.allow with input as carol
}

test_email_names_the_user if {
	inp := json.patch(tool_input("mallory", "list", "notes__read_note"), [{"op": "add", "path": "/user/email", "value": "m@example.com"}])
	d := authz.decision with input as inp
	d.reasons == ["no group of user m@example.com (groups: none) grants access to server notes"]
}

test_unknown_phase_denies if {
	d := authz.decision with input as object.union(tool_input("carol", "list", "notes__read_note"), {"phase": "consent"})
	not d.allow
	"unknown phase consent" in d.reasons
}

# The grant phase has its own document; decision never allows it.
test_decision_denies_the_grant_phase if {
	d := authz.decision with input as object.union(tool_input("carol", "call", "notes__read_note"), {"phase": "grant"})
	d == {
		"allow": false,
		"allow_unapproved": false,
		"reasons": ["phase grant is decided by data.mcpgate.authz.grant, not decision"],
		"required_scopes": [],
	}
}

test_missing_phase_denies if {
	d := authz.decision with input as object.remove(tool_input("carol", "list", "notes__read_note"), ["phase"])
	d.reasons == ["unknown phase null"]
}

test_no_target_denies if {
	d := authz.decision with input as base("carol", "call", "tools/call")
	not d.allow
	d.reasons == ["request names no tool, prompt or resource"]
}

test_two_targets_deny if {
	inp := object.union(tool_input("carol", "call", "notes__read_note"), prompt_input("carol", "call"))
	d := authz.decision with input as inp
	not d.allow
	d.reasons == ["request names more than one target (prompt, tool)"]
}

test_server_mismatch_denies if {
	inp := json.patch(tool_input("carol", "call", "notes__read_note"), [{"op": "replace", "path": "/server/name", "value": "hr"}])
	d := authz.decision with input as inp
	not d.allow
	d.reasons == ["target belongs to server notes, not hr"]
}

test_no_data_denies if {
	d := authz.decision with input as tool_input("carol", "list", "notes__read_note") with data.mcpgate.config as null
	not d.allow
}

test_default_decision_is_deny if {
	d := authz.decision with authz.required_scopes as 1
	d.allow == false
	d.reasons == ["policy could not decide this request"]
}

# unknown_levels lists the tool levels in cfg that are not levels; a typo
# would deny (fail closed), this finds it before deployment.
unknown_levels(cfg) := {level |
	some entry in cfg.groups
	grants := array.concat(
		[g | some g in object.get(entry, "servers", {})],
		[g | some values in object.get(entry, "labels", {}); some g in values],
	)
	some grant in grants
	some level in object.get(grant, "tools", {})
	not level in object.keys(authz._rank)
}

test_shipped_levels_are_known if {
	unknown_levels(data.mcpgate.config) == set()
}

test_unknown_levels_are_found if {
	unknown_levels({"groups": {"g": {"labels": {"env": {"prod": {"tools": {"*": "reed"}}}}}}}) == {"reed"}
}
