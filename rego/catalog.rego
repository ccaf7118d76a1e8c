# Lists: the list phase for a whole catalog in one evaluation.
#
# The gateway asks for visible once per list view instead of asking for
# decision once per catalog entry (policy.Engine.DecideList). input is the
# list phase's input without a server or target, plus input.catalog: an
# array of entries, each an object with the server and exactly one target
# (tool, prompt or resource) that a list input would carry. visible holds
# the indexes of the entries whose list decision allows them: the same
# rules, given the entry as arguments (access.rego, readonly.rego).
package mcpgate.authz

visible contains i if {
	input.phase == "list"
	some i, entry in input.catalog
	_entry_visible(entry)
}

# _entry_visible is decision.allow of the list phase for one entry: one
# target, of the entry's server, that a group of the user grants at the
# level it needs. (No other rule denies in the list phase: arguments,
# conditions and scopes are for calls.)
_entry_visible(entry) if {
	kinds := [kind | some kind in ["tool", "prompt", "resource"]; is_object(entry[kind])]
	count(kinds) == 1
	kind := kinds[0]
	target := entry[kind]
	by_group := _catalog_grants[_entry_server(entry, target)]
	count(by_group) > 0 # most entries of a large catalog end here
	not _entry_elsewhere(entry, target.server)
	needed := _needed_rank_of(kind, target)
	section := _section_of(kind)
	keys := _keys_of(kind, target)
	some grants in by_group
	_best_rank_in(grants, section, keys) >= needed
}

# _entry_server is the server and labels that decide an entry's grants.
_entry_server(entry, target) := [target.server, object.get(object.get(entry, "server", {}), "labels", {})]

# _catalog_grants are the grants of each group of the user, per server of
# the catalog (as _entry_server names it): computed once per server, not
# once per entry. A group without grants for the server grants nothing, as
# in _group_rank.
_catalog_grants := {server: {group: grants |
	some group in _groups
	grants := _grants_in(data.mcpgate.config.groups[group], server[0], server[1])
	count(grants) > 0
} |
	some server in _catalog_servers
}

_catalog_servers contains _entry_server(entry, entry[kind]) if {
	input.phase == "list"
	some entry in input.catalog
	some kind in ["tool", "prompt", "resource"]
	is_object(entry[kind])
}

# _entry_elsewhere: the entry's server is not the one its target names.
_entry_elsewhere(entry, server) if entry.server.name != server
