# Conditions: when and from which MCP client a server may be called. They
# are evaluated in the call phase only, so they never hide a tool from a
# list (a tool outside its hours is listed, and its call is refused).
#
# data.mcpgate.config.conditions.<server> (or "*" for every server; both
# apply) may hold:
#   hours    a list of windows in UTC; a call must fall in one of them:
#            {"days": ["Monday", ...], "from": "08:00", "to": "18:00"}
#            days default to every day, from/to to the whole day; a window
#            with from after to runs over midnight.
#   clients  MCP client names (clientInfo.name) that may call the server.
#            A client names itself, unauthenticated: this keeps honest
#            clients apart, it does not stop a determined caller.
package mcpgate.authz

# _conditions are the condition objects for the target's server.
_conditions contains c if {
	_call_phase
	c := data.mcpgate.config.conditions[_server]
}

_conditions contains c if {
	_call_phase
	c := data.mcpgate.config.conditions["*"]
}

_now_ns := time.parse_rfc3339_ns(input.request.time)

# _now_minutes is the UTC time of day of the request, in minutes.
_now_minutes := (clock[0] * 60) + clock[1] if {
	clock := time.clock([_now_ns, "UTC"])
}

_now_day := time.weekday([_now_ns, "UTC"])

deny contains msg if {
	some c in _conditions
	count(c.hours) > 0
	not _in_any_window(c.hours)
	msg := sprintf("server %s may be called only %s (now %s)", [
		_server,
		concat(" or ", [_describe(w) | some w in c.hours]),
		_now_text,
	])
}

_in_any_window(windows) if {
	some w in windows
	_day_ok(w)
	_time_ok(w)
}

_day_ok(w) if not w.days

_day_ok(w) if _now_day in w.days

_time_ok(w) if {
	from := _minutes(object.get(w, "from", "00:00"))
	to := _minutes(object.get(w, "to", "24:00"))
	_between(_now_minutes, from, to)
}

_between(t, from, to) if {
	from <= to
	from <= t
	t < to
}

_between(t, from, to) if {
	from > to
	t >= from
}

_between(t, from, to) if {
	from > to
	t < to
}

# _minutes turns "HH:MM" into minutes since midnight.
_minutes(hhmm) := (to_number(parts[0]) * 60) + to_number(parts[1]) if {
	parts := split(hhmm, ":")
	count(parts) == 2
}

_describe(w) := sprintf("%s %s-%s UTC", [
	concat(",", object.get(w, "days", ["every day"])),
	object.get(w, "from", "00:00"),
	object.get(w, "to", "24:00"),
])

_now_text := time.format([_now_ns, "UTC", "Monday 15:04 UTC"]) if {
	_now_ns
} else := "request time unknown"

deny contains msg if {
	some c in _conditions
	count(c.clients) > 0
	not _client_name in c.clients
	msg := sprintf("server %s may be called only from the MCP clients %s (this client: %s)", [
		_server,
		concat(", ", c.clients),
		_client_name,
	])
}

# _client_name is never undefined ("not x in s" would be undefined too).
default _client_name := "unnamed"

_client_name := input.client.name
