package mcpgate.authz_test

import data.mcpgate.authz

with_tool(inp, annotations) := json.patch(inp, [{"op": "replace", "path": "/tool/annotations", "value": annotations}])

test_unannotated_tool_is_destructive if {
	inp := json.patch(tool_input("alice", "call", "notes__write_note"), [{"op": "remove", "path": "/tool/annotations"}])
	d := authz.decision with input as inp
	d.reasons == ["group engineering may not use destructive tool notes__write_note"]
	authz.decision.allow with input as as_user(inp, ["admin"])
}

test_read_only_wins_over_destructive_hint if {
	inp := with_tool(tool_input("bob", "call", "notes__read_note"), {"readOnlyHint": true, "destructiveHint": true})
	authz.decision.allow with input as inp
}

test_not_destructive_needs_write if {
	inp := with_tool(tool_input("bob", "call", "notes__write_note"), {"destructiveHint": false})
	d := authz.decision with input as inp
	d.reasons == ["group hr may only use read-only tools of server notes, and notes__write_note is not read-only"]
	authz.decision.allow with input as as_user(inp, ["engineering"])
}

test_read_grant_on_destructive_tool if {
	d := authz.decision with input as tool_input("bob", "list", "notes__delete_note")
	d.reasons == ["group hr may only use read-only tools of server notes, and notes__delete_note is not read-only"]
}

test_all_allows_destructive if {
	authz.decision.allow with input as tool_input("carol", "call", "notes__delete_note")
}
