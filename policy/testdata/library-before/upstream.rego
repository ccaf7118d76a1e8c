# Upstream scopes: which scopes the gateway asks an upstream's own
# authorization server for when it obtains an upstream credential
# (client_credentials, token_exchange, or the oauth connect page where the
# user authorizes the upstream once), in phase upstream. The gateway
# evaluates upstream_scopes, not decision, and asks for the scopes granted
# here that are also in the server's upstream scope catalogue
# (input.upstream_scopes: name, level), never more.
#
# With a target (a credential for one request): the catalogue scopes of
# the lowest level that covers what the target needs (readonly.rego: read
# for read-only tools, prompts and resources, write for tools that are not
# destructive, all for every tool), when a group of the user has at least
# that level for the target by the access rules (access.rego: exact names,
# labels, patterns). The user's other rules (arguments, time windows,
# token scopes) still decide the call itself.
#
# Without a target (the connect page, for every call to come): every
# catalogue scope whose level a group of the user has on the server: the
# best of the tool levels of its grants that apply to the server (exact
# name, labels or pattern, as for access), and read for any prompt or
# resource they grant (grant.rego's _grant_level).
#
# Every catalogue scope has a reason, granted or refused.
package mcpgate.authz

default upstream_scopes := {"scopes": [], "reasons": ["policy could not decide the upstream scopes"]}

upstream_scopes := {
	"scopes": sort(_upstream_granted),
	"reasons": sort(_upstream_reasons),
} if input.phase == "upstream"

# _upstream_catalogue is input.upstream_scopes by scope name.
_upstream_catalogue := {entry.name: entry | some entry in object.get(input, "upstream_scopes", [])}

# _upstream_server is the server the credential is for; with a target, only
# when the target belongs to it, and never with more than one target.
_upstream_server := input.server.name if {
	input.phase == "upstream"
	count(_kinds) <= 1
	not _upstream_mismatch
}

_upstream_mismatch if {
	_kind
	_server != input.server.name
}

# _upstream_level[group] is the level (a rank) group has: for the target,
# by the access rules; without a target, on the server.
_upstream_level[group] := rank if {
	_upstream_server
	_kind
	some group, rank in _group_rank
}

_upstream_level[group] := _server_level(_grants_of(_cfg.groups[group])) if {
	_upstream_server
	not _kind
	some group in _groups
	_cfg.groups[group]
}

_server_level(grants) := max(array.concat([0], [_grant_level(grant) | some grant in grants]))

# _upstream_needed is, with a target, the lowest catalogue level that
# covers what it needs; without, every level.
_upstream_needed := min(ranks) if {
	_kind
	ranks := {rank | some entry in _upstream_catalogue; rank := _scope_rank(entry); rank >= _needed_rank}
	count(ranks) > 0
}

_upstream_wanted(entry) if {
	_kind
	_scope_rank(entry) == _upstream_needed
}

_upstream_wanted(entry) if {
	not _kind
	_scope_rank(entry)
}

# _upstream_grants[scope][group]: group's level is enough for the scope.
_upstream_grants[name][group] := rank if {
	_upstream_server
	some name, entry in _upstream_catalogue
	_upstream_wanted(entry)
	some group, rank in _upstream_level
	rank >= _scope_rank(entry)
}

_upstream_granted contains name if some name, _ in _upstream_grants

# _upstream_where names what a level is on, in reasons.
_upstream_where := sprintf("%s %s of server %s", [_kind, _target_name, _server]) if {
	_kind
} else := sprintf("server %s", [input.server.name])

_upstream_reasons contains msg if {
	some name, groups in _upstream_grants
	some group, rank in groups
	msg := sprintf("group %s grants upstream scope %s: it has level %s on %s", [
		group, name, _level_names[rank],
		_upstream_where,
	])
}

_upstream_reasons contains msg if {
	_upstream_server
	some name, entry in _upstream_catalogue
	_upstream_wanted(entry)
	not name in _upstream_granted
	msg := sprintf("upstream scope %s refused: no group of user %s (%s) has level %s on %s", [
		name, _user, _group_list,
		_level_names[_scope_rank(entry)], _upstream_where,
	])
}

_upstream_reasons contains msg if {
	_upstream_server
	some name, entry in _upstream_catalogue
	not _scope_rank(entry)
	msg := sprintf("upstream scope %s refused: its level %v is not read, write or all", [name, entry.level])
}

_upstream_reasons contains msg if {
	_upstream_server
	_kind
	some name, entry in _upstream_catalogue
	rank := _scope_rank(entry)
	rank < _needed_rank
	msg := sprintf("upstream scope %s refused: its level %s does not cover %s, which needs level %s", [
		name, _level_names[rank],
		_upstream_where, _level_names[_needed_rank],
	])
}

_upstream_reasons contains msg if {
	_upstream_server
	some name, entry in _upstream_catalogue
	rank := _scope_rank(entry)
	rank > _upstream_needed
	msg := sprintf("upstream scope %s refused: %s needs level %s, which scope %s covers with less", [
		name, _upstream_where, _level_names[_needed_rank],
		_upstream_lowest,
	])
}

# _upstream_lowest names the scopes of the lowest covering level.
_upstream_lowest := concat(", ", sort([name |
	some name, entry in _upstream_catalogue
	_scope_rank(entry) == _upstream_needed
]))

_upstream_reasons contains msg if {
	input.phase == "upstream"
	count(_upstream_catalogue) == 0
	msg := sprintf("server %s has no upstream scope catalogue: no upstream scope to grant", [input.server.name])
}

_upstream_reasons contains msg if {
	input.phase == "upstream"
	_upstream_mismatch
	msg := sprintf("target belongs to server %s, not %s: no upstream scope granted", [_server, input.server.name])
}

_upstream_reasons contains msg if {
	input.phase == "upstream"
	count(_kinds) > 1
	msg := sprintf("request names more than one target (%s): no upstream scope granted", [concat(", ", sort(_kinds))])
}
