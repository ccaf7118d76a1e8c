# Token scopes: the scopes an access token must carry to call a server.
#
# data.mcpgate.config.scopes.<server> (or "*" for every server; both apply)
# is a list of scopes. In the call phase a token that lacks any of them is
# denied with required_scopes set to every scope the server needs, which the
# gateway turns into HTTP 403 insufficient_scope so the client can ask the
# user for more. Scopes do not apply when listing: the tool stays visible
# and its call starts the step-up.
package mcpgate.authz

_server_scopes contains scope if {
	_call_phase
	some scope in data.mcpgate.config.scopes[_server]
}

_server_scopes contains scope if {
	_call_phase
	some scope in data.mcpgate.config.scopes["*"]
}

_token_scopes := {s | some s in object.get(input.token, "scopes", [])}

_missing_scopes contains scope if {
	some scope in _server_scopes
	not scope in _token_scopes
}

required_scopes contains scope if {
	count(_missing_scopes) > 0
	some scope in _server_scopes
}

deny contains msg if {
	count(_missing_scopes) > 0
	msg := sprintf("token lacks scope %s required by server %s", [
		concat(" ", sort(_missing_scopes)),
		_server,
	])
}

# The catalogue (configuration scopes, input.catalogue): in the call phase
# the gateway sends the catalogue entries of the target's server and of
# "*". When there are any, the token must carry one of them whose level
# covers the target (see readonly.rego: read for read-only tools, prompts
# and resources, write for tools that are not destructive, all for every
# tool). Otherwise the call is denied, and, when the user's groups grant
# the target, required_scopes is set to the token's scopes plus the
# lowest-level entry that covers the target (a scope of the server before
# one of "*", then by name), so that a client asking for exactly those
# loses nothing it had. When no entry covers the target, or the user may
# not use it anyway, no step-up can help (and a challenge would tell that
# the target exists): the call is denied without required_scopes.

# _scope_rank is the rank (see _rank) of a catalogue entry's level; an
# entry without level is "all". Undefined for an unknown level.
_scope_rank(entry) := {"read": 1, "write": 2, "all": 3}[_scope_level(entry)]

_level_names := {1: "read", 2: "write", 3: "all"}

_scope_level(entry) := entry.level if {
	entry.level != ""
} else := "all"

_applicable contains entry if {
	some entry in input.catalogue
	entry.server in {_server, "*"}
}

_covering contains entry if {
	some entry in _applicable
	_scope_rank(entry) >= _needed_rank
}

_catalogue_satisfied if {
	some entry in _covering
	entry.name in _token_scopes
}

# _catalogue_lacking: the call needs a catalogue scope the token lacks.
# The rules below test input.phase itself, not _call_phase, so that rule
# indexing skips them in the other phases (list decisions come by the
# hundred).
_catalogue_lacking if {
	input.phase == "call"
	is_array(input.catalogue)
	count(_applicable) > 0
	not _catalogue_satisfied
}

# _scope_to_ask is the covering entry of the lowest level, one of the
# target's server before one of "*", then the first by name.
_scope_to_ask := ranked[0][2] if {
	ranked := sort([[_scope_rank(entry), entry.server == "*", entry.name] | some entry in _covering])
	count(ranked) > 0
}

required_scopes contains scope if {
	input.phase == "call"
	_catalogue_lacking
	_access_granted
	some scope in (_token_scopes | {_scope_to_ask})
}

deny contains msg if {
	input.phase == "call"
	_catalogue_lacking
	msg := _catalogue_denial
}

_catalogue_denial := sprintf("token carries no scope that allows %s %s: ask for %s", [_kind, _target_name, _scope_to_ask]) if {
	_scope_to_ask
} else := sprintf("no scope of the catalogue allows %s %s, which needs level %s on server %s", [
	_kind, _target_name,
	_level_names[_needed_rank], _server,
])
