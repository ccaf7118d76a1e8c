package mcpgate.authz_test

import data.mcpgate.authz

with_conditions(conditions) := object.union(data.mcpgate.config, {"conditions": conditions})

at(inp, time) := json.patch(inp, [{"op": "replace", "path": "/request/time", "value": time}])

from_client(inp, name) := json.patch(inp, [{"op": "replace", "path": "/client", "value": {"name": name}}])

office_hours := {"hr": {"hours": [{"days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"], "from": "08:00", "to": "18:00"}]}}

# 2026-03-02 is a Monday.
test_inside_hours_allows if {
	inp := at(tool_input("bob", "call", "hr__salary_report"), "2026-03-02T17:59:00Z")
	authz.decision.allow with input as inp with data.mcpgate.config as with_conditions(office_hours)
}

test_hours_are_utc if {
	# 19:30+02:00 is 17:30 UTC.
	inp := at(tool_input("bob", "call", "hr__salary_report"), "2026-03-02T19:30:00+02:00")
	authz.decision.allow with input as inp with data.mcpgate.config as with_conditions(office_hours)
}

test_outside_hours_denies if {
	inp := at(tool_input("bob", "call", "hr__salary_report"), "2026-03-02T18:00:00Z")
	d := authz.decision with input as inp with data.mcpgate.config as with_conditions(office_hours)
	d.reasons == ["server hr may be called only Monday,Tuesday,Wednesday,Thursday,Friday 08:00-18:00 UTC (now Monday 18:00 UTC)"]
}

test_outside_days_denies if {
	inp := at(tool_input("bob", "call", "hr__salary_report"), "2026-03-07T10:00:00Z")
	not authz.decision.allow with input as inp with data.mcpgate.config as with_conditions(office_hours)
}

test_hours_do_not_apply_to_other_servers if {
	inp := at(tool_input("bob", "call", "notes__read_note"), "2026-03-07T10:00:00Z")
	authz.decision.allow with input as inp with data.mcpgate.config as with_conditions(office_hours)
}

test_overnight_window if {
	night := with_conditions({"*": {"hours": [{"from": "22:00", "to": "06:00"}]}})
	authz.decision.allow with input as at(tool_input("carol", "call", "notes__delete_note"), "2026-03-02T23:00:00Z")
		with data.mcpgate.config as night
	authz.decision.allow with input as at(tool_input("carol", "call", "notes__delete_note"), "2026-03-02T05:59:00Z")
		with data.mcpgate.config as night
	d := authz.decision with input as at(tool_input("carol", "call", "notes__delete_note"), "2026-03-02T12:00:00Z")
		with data.mcpgate.config as night
	d.reasons == ["server notes may be called only every day 22:00-06:00 UTC (now Monday 12:00 UTC)"]
}

test_any_window_is_enough if {
	two := with_conditions({"notes": {"hours": [{"days": ["Sunday"]}, {"days": ["Monday"], "from": "09:00"}]}})
	authz.decision.allow with input as at(tool_input("carol", "call", "notes__read_note"), "2026-03-02T09:00:00Z")
		with data.mcpgate.config as two
	authz.decision.allow with input as at(tool_input("carol", "call", "notes__read_note"), "2026-03-08T01:00:00Z")
		with data.mcpgate.config as two
	not authz.decision.allow with input as at(tool_input("carol", "call", "notes__read_note"), "2026-03-02T08:59:00Z")
		with data.mcpgate.config as two
}

test_unknown_time_denies if {
	d := authz.decision with input as at(tool_input("bob", "call", "hr__salary_report"), "yesterday")
		with data.mcpgate.config as with_conditions(office_hours)
	d.reasons == ["server hr may be called only Monday,Tuesday,Wednesday,Thursday,Friday 08:00-18:00 UTC (now request time unknown)"]
}

test_malformed_window_denies if {
	bad := with_conditions({"hr": {"hours": [{"from": "8am"}]}})
	not authz.decision.allow with input as tool_input("bob", "call", "hr__salary_report") with data.mcpgate.config as bad
}

clients_only := {"notes": {"clients": ["claude-code", "Visual Studio Code"]}}

test_allowed_client if {
	inp := from_client(tool_input("alice", "call", "notes__read_note"), "claude-code")
	authz.decision.allow with input as inp with data.mcpgate.config as with_conditions(clients_only)
}

test_other_client_denies if {
	inp := from_client(tool_input("alice", "call", "notes__read_note"), "cursor")
	d := authz.decision with input as inp with data.mcpgate.config as with_conditions(clients_only)
	d.reasons == ["server notes may be called only from the MCP clients claude-code, Visual Studio Code (this client: cursor)"]
}

test_unnamed_client_denies if {
	inp := object.remove(tool_input("alice", "call", "notes__read_note"), ["client"])
	d := authz.decision with input as inp with data.mcpgate.config as with_conditions(clients_only)
	d.reasons == ["server notes may be called only from the MCP clients claude-code, Visual Studio Code (this client: unnamed)"]
}
