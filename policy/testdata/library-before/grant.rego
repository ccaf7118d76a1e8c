# Scope grants: which of the scopes an OAuth client asks for it gets for
# the signed-in user, in authorization-server mode (phase grant). The
# gateway evaluates grant, not decision, at the first authorization, at a
# step-up and at every refresh, and never grants more than was asked for
# nor anything outside the catalogue.
#
# A requested scope of the catalogue (input.catalogue: name, server, level)
# is granted when a group of the user has at least its level on its server,
# by the same data as access.rego: a group's grant of a server (its exact
# name, else a matching pattern such as "*") gives the best of its tool
# levels, and read for any prompt or resource it grants. Labels are not
# known in this phase (the catalogue names servers), so grants through
# labels do not count here: list such groups in scope_grants. A scope of
# server "*" is granted when the user's groups give its level on at least
# one server. Scopes are a ceiling on what a client may do: every call is
# still decided by the access rules.
#
# data.mcpgate.config.scope_grants.<scope> lists groups whose members are
# granted that catalogue scope whatever their grants say.
#
# Every requested scope that is refused has a reason, and so has every one
# that is granted. Scopes outside the catalogue (openid and offline_access
# included) are never granted: the authorization server handles those.
package mcpgate.authz

default grant := {"scopes": [], "reasons": ["policy could not decide this grant"]}

grant := {"scopes": sort(_granted), "reasons": sort(_grant_reasons)} if input.phase == "grant"

_requested := {s | some s in object.get(input, ["grant", "requested"], [])}

# _catalogue is input.catalogue by scope name.
_catalogue := {entry.name: entry | some entry in object.get(input, "catalogue", [])}

# _level_grants[scope][group] is the level (a rank) group has on the
# requested scope's server, when it is enough for the scope.
_level_grants[name][group] := rank if {
	input.phase == "grant"
	some name in _requested
	entry := _catalogue[name]
	some group in _groups
	rank := _group_level(group, entry.server)
	rank >= _scope_rank(entry)
}

# _listed_grants[scope] are the groups of the user that scope_grants lists
# for the requested scope.
_listed_grants[name] contains group if {
	input.phase == "grant"
	some name in _requested
	_catalogue[name]
	some group in _groups
	group in object.get(_cfg, ["scope_grants", name], [])
}

_granted contains name if some name, _ in _level_grants

_granted contains name if some name, _ in _listed_grants

_grant_reasons contains msg if {
	some name, groups in _level_grants
	some group, rank in groups
	msg := sprintf("group %s grants scope %s: it has level %s on %s", [
		group, name, _level_names[rank],
		_server_text(_catalogue[name].server),
	])
}

_grant_reasons contains msg if {
	some name, groups in _listed_grants
	some group in groups
	msg := sprintf("group %s grants scope %s (data.mcpgate.config.scope_grants)", [group, name])
}

_grant_reasons contains msg if {
	input.phase == "grant"
	some name in _requested
	not _catalogue[name]
	msg := sprintf("scope %s refused: it is not in the scope catalogue", [name])
}

_grant_reasons contains msg if {
	input.phase == "grant"
	some name in _requested
	entry := _catalogue[name]
	not _scope_rank(entry)
	msg := sprintf("scope %s refused: its level %v is not read, write or all", [name, entry.level])
}

_grant_reasons contains msg if {
	input.phase == "grant"
	some name in _requested
	entry := _catalogue[name]
	_scope_rank(entry)
	not name in _granted
	msg := sprintf("scope %s refused: no group of user %s (%s) has level %s on %s", [
		name, _user, _group_list,
		_level_names[_scope_rank(entry)], _server_text(entry.server),
	])
}

_server_text("*") := "a server"

_server_text(server) := sprintf("server %s", [server]) if server != "*"

# _group_level is the best level (a rank) group has on server: its grant
# of that server, else of the patterns that match it, as for access (labels
# are not known here); for "*", on any server. 0 when it has none.
_group_level(group, server) := max(array.concat([0], [_grant_level(grant) |
	some grant in _server_grants(_cfg.groups[group], server)
])) if server != "*"

# _server_grants is _grants_of (access.rego) for any server, without labels.
_server_grants(entry, server) := [grant] if {
	grant := entry.servers[server]
} else := [grant |
	some pattern, grant in entry.servers
	regex.match(`[*?]`, pattern)
	glob.match(pattern, null, server)
]

_group_level(group, "*") := max(array.concat([0], [_grant_level(grant) |
	some grant in _every_grant(_cfg.groups[group])
]))

# _every_grant lists the grants of one group's entry, of servers and labels.
_every_grant(entry) := array.concat(
	[grant | some grant in object.get(entry, "servers", {})],
	[grant | some values in object.get(entry, "labels", {}); some grant in values],
)

# _grant_level is the best level one grant gives on its server: the best of
# its tool levels, and read for any prompt or resource it grants.
_grant_level(grant) := max(array.concat(
	[0],
	array.concat(
		[_value_rank(value) | some value in object.get(grant, "tools", {})],
		[1 |
			some section in ["prompts", "resources"]
			some value in object.get(grant, section, {})
			_value_rank(value) > 0
		],
	),
))
