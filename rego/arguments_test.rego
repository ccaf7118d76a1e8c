package mcpgate.authz_test

import data.mcpgate.authz

# with_arguments is the shipped data with constraints on notes' read_note,
# and carol's call of read_note with args.
with_arguments(rules) := object.union(data.mcpgate.config, {"arguments": {"notes": {"read_note": rules}}})

read_note_call(args) := json.patch(tool_input("carol", "call", "notes__read_note"), [{"op": "replace", "path": "/arguments", "value": args}])

argument_reasons(rules, args) := d.reasons if {
	d := authz.decision with input as read_note_call(args) with data.mcpgate.config as with_arguments(rules)
}

test_path_prefixes if {
	rules := {"path": {"path_prefixes": ["/shared/", "/tmp/"]}}
	argument_reasons(rules, {"path": "/shared/a.txt"}) == ["group admin grants tool notes__read_note"]
	argument_reasons(rules, {"path": "/etc"}) == ["argument path must start with /shared/ or /tmp/ (got /etc)"]
	argument_reasons(rules, {"path": "/shared/../etc/passwd"}) == ["argument path must not contain '..' (got /shared/../etc/passwd)"]
	argument_reasons(rules, {"path": 7}) == ["argument path must be a string"]
}

test_values_and_patterns if {
	rules := {"repo": {"values": ["acme/docs"], "patterns": ["acme-labs/*"]}}
	argument_reasons(rules, {"repo": "acme/docs"}) == ["group admin grants tool notes__read_note"]
	argument_reasons(rules, {"repo": "acme-labs/x"}) == ["group admin grants tool notes__read_note"]
	argument_reasons(rules, {"repo": "evil/repo"}) == ["argument repo must be one of acme/docs, acme-labs/* (got evil/repo)"]
}

test_values_only if {
	rules := {"mode": {"values": ["fast", 1]}}
	argument_reasons(rules, {"mode": 1}) == ["group admin grants tool notes__read_note"]
	argument_reasons(rules, {"mode": {"a": 1}}) == [`argument mode must be one of fast, 1 (got {"a":1})`]
}

test_patterns_only if {
	rules := {"repo": {"patterns": ["acme/*"]}}
	argument_reasons(rules, {"repo": "acme/web"}) == ["group admin grants tool notes__read_note"]
	argument_reasons(rules, {"repo": ["acme/web"]}) == [`argument repo must be one of acme/* (got ["acme/web"])`]
}

test_max_and_min if {
	rules := {"limit": {"max": 100, "min": 1}}
	argument_reasons(rules, {"limit": 100}) == ["group admin grants tool notes__read_note"]
	argument_reasons(rules, {"limit": 101}) == ["argument limit must be at most 100 (got 101)"]
	argument_reasons(rules, {"limit": 0}) == ["argument limit must be at least 1 (got 0)"]
	argument_reasons(rules, {"limit": "9"}) == ["argument limit must be a number"]
}

test_max_length if {
	rules := {"title": {"max_length": 5}}
	argument_reasons(rules, {"title": "hello"}) == ["group admin grants tool notes__read_note"]
	argument_reasons(rules, {"title": "hello!"}) == ["argument title must be at most 5 characters (got 6)"]
	argument_reasons(rules, {"title": 5}) == ["argument title must be a string"]
}

test_required if {
	rules := {"id": {"required": true}, "note": {"max_length": 1}}
	argument_reasons(rules, {"id": "x"}) == ["group admin grants tool notes__read_note"]
	argument_reasons(rules, {}) == ["argument id is required"]
}

test_absent_argument_is_only_checked_by_required if {
	argument_reasons({"path": {"path_prefixes": ["/shared/"]}}, {}) == ["group admin grants tool notes__read_note"]
}

test_unknown_constraint_denies if {
	argument_reasons({"title": {"max_lenght": 5}}, {"title": "x"}) == ["policy data error: unknown constraint max_lenght on argument title of notes__read_note"]
}

test_long_values_are_cut_in_reasons if {
	rules := {"path": {"path_prefixes": ["/shared/"]}}
	argument_reasons(rules, {"path": "/etc/0123456789012345678901234567890123456789"}) == ["argument path must start with /shared/ (got /etc/01234567890123456789012345678901234…)"]
}

test_shipped_write_note_rules if {
	inp := json.patch(tool_input("alice", "call", "notes__write_note"), [{"op": "replace", "path": "/arguments", "value": {"body": "x"}}])
	d := authz.decision with input as inp
	d.reasons == ["argument id is required"]
}

test_arguments_do_not_apply_to_prompts if {
	cfg := object.union(data.mcpgate.config, {"arguments": {"notes": {"summarize_note": {"id": {"required": true}}}}})
	authz.decision.allow with input as prompt_input("alice", "call") with data.mcpgate.config as cfg
}

# The gateway sends null for a call without arguments; required still holds.
test_required_with_null_arguments if {
	argument_reasons({"id": {"required": true}}, null) == ["argument id is required"]
}
