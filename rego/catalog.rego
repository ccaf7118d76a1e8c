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
	server := target.server
	not _entry_elsewhere(entry, server)
	labels := object.get(object.get(entry, "server", {}), "labels", {})
	needed := _needed_rank_of(kind, target)
	some group in _groups
	grants := _grants_in(data.mcpgate.config.groups[group], server, labels)
	_best_rank_in(grants, _section_of(kind), _keys_of(kind, target)) >= needed
}

# _entry_elsewhere: the entry's server is not the one its target names.
_entry_elsewhere(entry, server) if entry.server.name != server
