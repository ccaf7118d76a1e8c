package system.log_test

import data.system.log

event(request) := {"decision_id": "d1", "input": request, "result": {"allow": true}}

tool_call(upstream, args) := {
	"phase": "call",
	"tool": {"name": concat("__", ["notes", upstream]), "upstream_name": upstream, "server": "notes"},
	"arguments": args,
}

test_arguments_erased_by_default if {
	log.mask == {"/input/arguments"} with input as event(tool_call("list_notes", {"q": "secret"}))
}

test_kept_arguments_survive if {
	m := log.mask with input as event(tool_call("write_note", {"id": "todo", "body": "secret", "a/b~c": 1}))
	m == {"/input/arguments/body", "/input/arguments/a~1b~0c"}
}

test_prompt_arguments if {
	request := {
		"phase": "call",
		"prompt": {"name": "notes__summarize_note", "upstream_name": "summarize_note", "server": "notes"},
		"arguments": {"id": "todo", "style": "short"},
	}
	log.mask == {"/input/arguments/style"} with input as event(request)
}

test_nothing_to_mask_without_arguments if {
	log.mask == set() with input as event({"phase": "list", "tool": {"name": "notes__list_notes", "upstream_name": "list_notes", "server": "notes"}})
}

test_keep_list_from_data if {
	cfg := {"log": {"keep_arguments": {"notes": {"list_notes": ["q"]}}}}
	log.mask == set() with input as event(tool_call("list_notes", {"q": "x"})) with data.mcpgate.config as cfg
}

test_both_targets_keep_nothing if {
	request := object.union(tool_call("write_note", {"id": "todo"}), {"prompt": {"name": "notes__summarize_note", "upstream_name": "summarize_note", "server": "notes"}})
	log.mask == {"/input/arguments"} with input as event(request)
}

test_empty_arguments_erased if {
	log.mask == {"/input/arguments"} with input as event(tool_call("list_notes", {}))
}
