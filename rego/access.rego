# Access: which groups may use which servers, tools, prompts and resources.
#
# data.mcpgate.config.groups.<group> has two optional maps of grants:
#   servers  server name (or a pattern such as "*") -> grant
#   labels   label key -> label value -> grant, for servers with that label
# A grant maps names to levels per kind of target:
#   tools      upstream tool name (or pattern) -> "none" | "read" | "write" | "all"
#   prompts    upstream prompt name (or pattern) -> true | false
#   resources  URI or URI template (or pattern) -> true | false
#
# The most specific entry wins, so exceptions are easy to write: an exact
# server name beats a matching label, which beats a server pattern; within a
# grant an exact name beats a pattern. Patterns (containing * or ?) are only
# tried when no exact entry exists, so the common case is an object lookup.
# Across groups, grants add up: one group allowing is enough.
package mcpgate.authz

# _rank orders tool levels; readonly.rego says what each level allows.
_rank := {"none": 0, "read": 1, "write": 2, "all": 3}

# _labels are the labels of the target's server (null when it has none).
_labels := object.get(input.server, "labels", {})

# The rules that rank a target take it as arguments (the *_in and *_of
# functions), so that a whole catalog (catalog.rego) is decided by the same
# rules as one target; the rules without arguments apply them to the input.

# _target_server and _target_labels are _server and _labels, null and {}
# when undefined (a function argument cannot be undefined).
default _target_server := null

_target_server := _server

default _target_labels := {}

_target_labels := _labels

# Patterns are the names containing * or ?; only they go to glob.match.
# _grants_in returns the grants of one group's entry that apply to server
# (null for none), most specific first.
_grants_in(entry, server, labels) := [grant] if {
	grant := entry.servers[server]
} else := grants if {
	entry.labels
	grants := [grant |
		some key, value in labels
		grant := entry.labels[key][value]
	]
	count(grants) > 0
} else := [grant |
	is_string(server)
	some pattern, grant in entry.servers
	regex.match(`[*?]`, pattern)
	glob.match(pattern, null, server)
]

# _grants_of is _grants_in for the target's server.
_grants_of(entry) := _grants_in(entry, _target_server, _target_labels)

# _section is the part of a grant that covers the target's kind.
_section := _section_of(_kind)

_section_of(kind) := {"tool": "tools", "prompt": "prompts", "resource": "resources"}[kind]

# _target_keys are the names a grant may list the target under.
_target_keys := _keys_of(_kind, _target)

_keys_of(kind, target) := [target.upstream_name] if {
	kind != "resource"
} else := [key |
	kind == "resource" # a tool or prompt without an upstream name has none
	some field in ["uri", "uri_template"]
	key := target[field]
]

# _value_rank turns a grant value into a rank; anything unknown is none.
_value_rank(value) := 3 if {
	value == true
} else := object.get(_rank, value, 0)

# _grant_rank_in is the rank one grant gives the target, undefined when it
# does not mention the target. Exact names are object lookups; patterns
# are only tried when no exact entry exists.
_grant_rank_in(grant, section, keys) := _value_rank(grant[section][keys[0]]) if {
	count(keys) == 1
} else := max(ranks) if {
	ranks := [_value_rank(value) |
		some key in keys
		value := grant[section][key]
	]
	count(ranks) > 0
} else := max(ranks) if {
	ranks := [_value_rank(value) |
		some pattern, value in grant[section]
		regex.match(`[*?]`, pattern)
		some key in keys
		glob.match(pattern, null, key)
	]
	count(ranks) > 0
}

# _best_rank_in is the best rank a group's grants give the target (0 when
# they do not mention it). Most groups have one grant for a server.
_best_rank_in([grant], section, keys) := rank if {
	rank := _grant_rank_in(grant, section, keys)
} else := 0

_best_rank_in(grants, section, keys) := max(array.concat(ranks, [0])) if {
	count(grants) != 1
	ranks := [r | some grant in grants; r := _grant_rank_in(grant, section, keys)]
}

_best_rank(grants) := _best_rank_in(grants, _section, _target_keys)

# _group_rank is, per group of the user with a grant for the server, its
# best rank for the target (0 when the grants do not mention it): in the
# list and call phases, and in the upstream phase when it has a target.
_group_rank[group] := _best_rank(grants) if {
	input.phase in {"list", "call", "upstream"}
	_kind
	some group in _groups
	grants := _grants_of(data.mcpgate.config.groups[group])
	count(grants) > 0
}

_granting_groups contains group if {
	some group, rank in _group_rank
	rank >= _needed_rank
}

_access_granted if {
	some _, rank in _group_rank
	rank >= _needed_rank
}

grants contains msg if {
	_target_phase
	some group in _granting_groups
	msg := sprintf("group %s grants %s %s", [group, _kind, _target_name])
}

grants contains msg if {
	input.phase == "initialize"
	count(_session_groups) == 0
	some group in _groups
	data.mcpgate.config.groups[group]
	msg := sprintf("group %s has grants, so it may open sessions", [group])
}

grants contains msg if {
	input.phase == "initialize"
	some group in _groups
	group in _session_groups
	msg := sprintf("group %s may open sessions", [group])
}

deny contains msg if {
	_target_phase
	_kind
	count(_group_rank) == 0
	msg := sprintf("no group of user %s (%s) grants access to server %s", [_user, _group_list, _server])
}

deny contains msg if {
	_target_phase
	not _access_granted
	some group, rank in _group_rank
	rank == 0
	msg := sprintf("group %s has no grant for %s %s", [group, _kind, _target_name])
}

# _group_list names the user's groups in reasons.
_group_list := "groups: none" if {
	count(_groups) == 0
} else := concat(" ", ["groups:", concat(", ", _groups)])

# Sessions: data.mcpgate.config.initialize.groups, when set and not empty,
# lists the groups whose members may open a session; otherwise a user may
# open one when one of their groups has grants in data.mcpgate.config.groups
# (and sees only what the list phase grants them). A user whose groups grant
# nothing is refused at the door: a session would serve them nothing and
# still cost the gateway memory.
_session_groups := {g | some g in object.get(data.mcpgate.config, ["initialize", "groups"], [])}

_session_allowed if {
	count(_session_groups) == 0
	some group in _groups
	data.mcpgate.config.groups[group]
}

_session_allowed if {
	some group in _groups
	group in _session_groups
}

deny contains msg if {
	input.phase == "initialize"
	not _session_allowed
	count(_session_groups) > 0
	msg := sprintf("user %s (%s) is in none of the groups that may open a session: %s", [
		_user, _group_list,
		concat(", ", sort(_session_groups)),
	])
}

deny contains msg if {
	input.phase == "initialize"
	not _session_allowed
	count(_session_groups) == 0
	msg := sprintf("user %s (%s) has no grant for any server: no group of theirs is in data.mcpgate.config.groups", [
		_user, _group_list,
	])
}
