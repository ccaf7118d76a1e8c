# Package system.log masks decision-log events (OPA's mask_decision). The
# rule sees the whole event as input; the request's input is input.input,
# and JSON pointers start at the event, so "/input/arguments" is the
# arguments of the request.
#
# Argument values can hold anything (file contents, tokens, personal data),
# so every argument is erased unless data.mcpgate.config.log
# .keep_arguments.<server>.<upstream name> lists it, e.g.
#   "keep_arguments": {"notes": {"read_note": ["id"]}}
package system.log

_request := input.input

_target := t if {
	some kind in ["tool", "prompt"]
	t := _request[kind]
}

_keep := {name |
	some name in data.mcpgate.config.log.keep_arguments[_target.server][_target.upstream_name]
}

# With nothing to keep, erase the arguments object as a whole.
mask contains "/input/arguments" if {
	_request.arguments
	count(_keep) == 0
}

mask contains pointer if {
	count(_keep) > 0
	some name, _ in _request.arguments
	not name in _keep
	pointer := concat("/", ["/input/arguments", _escape(name)])
}

# _escape makes a key one JSON Pointer token (RFC 6901).
_escape(name) := replace(replace(name, "~", "~0"), "/", "~1")
