# Package system.log masks decision-log events (OPA's mask_decision). The
# rule sees the whole event as input; the request's input is input.input,
# and JSON pointers start at the event, so "/input/arguments" is the
# arguments of the request.
#
# Argument values can hold anything (file contents, tokens, personal data),
# so every argument is erased unless data.mcpgate.config.log
# .keep_arguments.<server>.<upstream name> lists it, e.g.
#   "keep_arguments": {"notes": {"read_note": ["id"]}}
#
# The rules read fields by name, and the arguments' names only (through
# object.keys): the engine then masks each shape of request once and reuses
# the result (docs/policy.md, "The decision log").
package system.log

# _targets are the request's tool and prompt; a request with both (the
# gateway never sends one) keeps no argument.
_targets contains input.input.tool

_targets contains input.input.prompt

_target := t if {
	count(_targets) == 1
	some t in _targets
}

_keep := {name |
	some name in data.mcpgate.config.log.keep_arguments[_target.server][_target.upstream_name]
}

# _argument_names is undefined without arguments.
_argument_names := object.keys(input.input.arguments)

# With nothing to keep, erase the arguments object as a whole.
mask contains "/input/arguments" if {
	_argument_names
	count(_keep) == 0
}

mask contains pointer if {
	count(_keep) > 0
	some name in _argument_names
	not name in _keep
	pointer := concat("/", ["/input/arguments", _escape(name)])
}

# _escape makes a key one JSON Pointer token (RFC 6901).
_escape(name) := replace(replace(name, "~", "~0"), "/", "~1")
