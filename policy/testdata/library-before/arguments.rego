# Argument constraints: rules on the values a tool is called with. They are
# evaluated in the call phase only (arguments do not exist when listing).
#
# data.mcpgate.config.arguments.<server>.<upstream tool name>.<argument> is a
# constraint object; every key it has must hold:
#   required       true: the argument must be present
#   path_prefixes  a string starting with one of these, with no ".." segment
#   values         one of these values (or matching one of "patterns")
#   patterns       a string matching one of these globs, e.g. "acme/*"
#   max, min       a number no greater / no smaller than this
#   max_length     a string of at most this many characters
# An absent argument is only checked by "required".
package mcpgate.authz

# _argument_rules are the constraints of the called tool (one lookup).
_argument_rules := _cfg.arguments[_server][input.tool.upstream_name] if {
	_call_phase
	_kind == "tool"
}

_arguments := object.get(input, "arguments", {})

deny contains msg if {
	some name, rule in _argument_rules
	rule.required == true
	not _has_argument(name)
	msg := sprintf("argument %s is required", [name])
}

_has_argument(name) if _arguments[name] = _

_known_checks := {"required", "path_prefixes", "values", "patterns", "max", "min", "max_length"}

# A misspelt constraint denies the tool's calls instead of being ignored.
deny contains msg if {
	some name, rule in _argument_rules
	some check, _ in rule
	not check in _known_checks
	msg := sprintf("policy data error: unknown constraint %s on argument %s of %s", [check, name, _target_name])
}

deny contains msg if {
	some name, rule in _argument_rules
	value := _arguments[name]
	some check, limit in rule
	msg := _violation(check, name, limit, value)
}

# _violation is the reason value breaks one check of its rule, undefined
# when it does not (no set is built for arguments that pass).
_violation("path_prefixes", name, _, value) := sprintf("argument %s must be a string", [name]) if {
	not is_string(value)
} else := sprintf("argument %s must not contain '..' (got %s)", [name, _show(value)]) if {
	".." in split(value, "/")
}

_violation("path_prefixes", name, prefixes, value) := sprintf("argument %s must start with %s (got %s)", [name, concat(" or ", prefixes), _show(value)]) if {
	is_string(value)
	not ".." in split(value, "/")
	not _has_prefix(value, prefixes)
}

_violation("values", name, allowed, value) := sprintf("argument %s must be one of %s (got %s)", [name, _choices(name), _show(value)]) if {
	not value in allowed
	not _matches_pattern(value, object.get(_argument_rules[name], "patterns", []))
}

_violation("patterns", name, patterns, value) := sprintf("argument %s must be one of %s (got %s)", [name, _choices(name), _show(value)]) if {
	not _matches_pattern(value, patterns)
	not value in object.get(_argument_rules[name], "values", [])
}

_violation("max", name, limit, value) := sprintf("argument %s must be a number", [name]) if {
	not is_number(value)
} else := sprintf("argument %s must be at most %v (got %v)", [name, limit, value]) if {
	value > limit
}

_violation("min", name, limit, value) := sprintf("argument %s must be a number", [name]) if {
	not is_number(value)
} else := sprintf("argument %s must be at least %v (got %v)", [name, limit, value]) if {
	value < limit
}

_violation("max_length", name, limit, value) := sprintf("argument %s must be a string", [name]) if {
	not is_string(value)
} else := sprintf("argument %s must be at most %v characters (got %d)", [name, limit, count(value)]) if {
	count(value) > limit
}

_has_prefix(value, prefixes) if {
	some prefix in prefixes
	startswith(value, prefix)
}

_matches_pattern(value, patterns) if {
	is_string(value)
	some pattern in patterns
	glob.match(pattern, null, value)
}

# _choices lists what an argument may be, values first, then patterns.
_choices(name) := concat(", ", [sprintf("%v", [c]) |
	rule := _argument_rules[name]
	some c in array.concat(object.get(rule, "values", []), object.get(rule, "patterns", []))
])

# _show quotes an argument value in a reason, cut to 40 characters so a
# reason never carries a long (possibly sensitive) value into the logs.
_show(value) := _cut(value) if {
	is_string(value)
} else := _cut(json.marshal(value))

_cut(s) := concat("", [substring(s, 0, 40), "…"]) if {
	count(s) > 40
} else := s
