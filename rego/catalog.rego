# Lists: the list phase for a whole catalog in one evaluation.
#
# The gateway asks for visible once per list view instead of asking for
# decision once per catalog entry (policy.Engine.DecideList). input is the
# list phase's input without a server or target, plus input.catalog: an
# array of entries, each an object with the server and exactly one target
# (tool, prompt or resource) that a list input would carry. visible holds
# the indexes of the entries whose list decision allows them, by the same
# rules (access.rego, readonly.rego) worked out once per server of the
# catalog (_catalog_tables), so that an entry costs a few lookups: 200
# entries in ~12 ms rather than ~25 (BenchmarkLibraryDecideList200).
package mcpgate.authz

visible contains i if {
	some i, [kind, target, labels] in _catalog_targets
	tables := _catalog_tables[[target.server, labels, kind]]
	count(tables) > 0 # most entries of a large catalog end here
	needed := _hints_rank(kind, object.get(target, ["annotations", "readOnlyHint"], null), object.get(target, ["annotations", "destructiveHint"], null))
	some table in tables
	_keys_rank(table, kind, target) >= needed
}

# _catalog_targets holds, per index of the catalog, its kind, target and
# server labels: for the entries that name exactly one target, of the
# server they name.
_catalog_targets[i] := [kind, target, object.get(entry, ["server", "labels"], {})] if {
	input.phase == "list"
	some i, entry in input.catalog
	some kind, others in _other_kinds
	target := entry[kind]
	is_object(target)
	not is_object(object.get(entry, others[0], null)) # exactly one target
	not is_object(object.get(entry, others[1], null))
	object.get(entry, ["server", "name"], target.server) == target.server # not another server's
}

_other_kinds := {"tool": ["prompt", "resource"], "prompt": ["tool", "resource"], "resource": ["tool", "prompt"]}

# _hints_rank is _needed_rank_of from a target's kind and hints: scalars,
# not the target, so that equal hints cost one evaluation per catalog.
_hints_rank(kind, read_only, destructive) := 1 if {
	kind != "tool"
} else := 1 if {
	read_only == true
} else := 3 if {
	destructive != false
} else := 2

# _catalog_tables holds, per [server, labels, kind] of the catalog, one
# table per grant that a group of the user has for that server (what
# _grants_in returns): the grant's section for the kind as ranks of exact
# names, and its patterns with their ranks. Worked out once per server of
# the catalog, so that each entry costs a lookup (and glob matches only
# when no exact name applies). A group grants an entry when one of its
# grants ranks it high enough, which is _best_rank_in's test.
_catalog_tables[[server, labels, kind]] := [table |
	some group in _groups
	some grant in _grants_in(data.mcpgate.config.groups[group], server, labels)
	section := grant[_section_of(kind)]
	is_object(section)
	table := {
		"exact": {name: _value_rank(value) | some name, value in section},
		"patterns": [[pattern, _value_rank(value)] |
			some pattern, value in section
			regex.match(`[*?]`, pattern)
		],
	}
] if {
	some [server, labels] in _catalog_servers
	some kind, _ in _other_kinds
}

_catalog_servers contains [entry[kind].server, object.get(entry, ["server", "labels"], {})] if {
	input.phase == "list"
	some entry in input.catalog
	some kind, _ in _other_kinds
	is_object(entry[kind])
}

# _keys_rank is _grant_rank_in for a grant's table: the rank of the
# target's name, else the best of the patterns matching it; for a resource
# the best of its URI and URI template named exactly, else of the patterns
# matching either. Undefined when the table mentions none.
_keys_rank(table, kind, target) := table.exact[target.upstream_name] if {
	kind != "resource"
} else := max(ranks) if {
	kind != "resource"
	ranks := [rank |
		some [pattern, rank] in table.patterns
		glob.match(pattern, null, target.upstream_name)
	]
	count(ranks) > 0
} else := max(ranks) if {
	kind == "resource"
	ranks := [table.exact[key] | some key in _keys_of(kind, target)]
	count(ranks) > 0
} else := max(ranks) if {
	kind == "resource"
	ranks := [rank |
		some [pattern, rank] in table.patterns
		some key in _keys_of(kind, target)
		glob.match(pattern, null, key)
	]
	count(ranks) > 0
}
