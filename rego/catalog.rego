# Lists: the list phase for a whole catalog in one evaluation.
#
# The gateway asks for visible once per list view instead of asking for
# decision once per catalog entry (policy.Engine.DecideList). input is the
# list phase's input without a server or target, plus input.catalog: an
# array of entries, each an object with its server and exactly one target
# (tool, prompt or resource) as a list input would carry them (the
# gateway's entries always have both). visible holds the indexes of the
# entries whose list decision allows them, by the same rules (access.rego,
# readonly.rego, descriptions.rego) worked out once per server of the catalog
# (_catalog_tables), so that an entry costs a few lookups. Stricter than
# one decision per entry, never looser: an entry with any key but its
# server and one target is hidden (a decision ignores keys that are not
# objects), and so is every entry of a server and kind for which a grant
# of the caller's groups is malformed (a decision fails on it).
package mcpgate.authz

visible contains i if {
	input.phase == "list"
	some i, entry in input.catalog
	kind := _kind_of(object.keys(entry))
	target := entry[kind]
	is_object(target)
	some table in _catalog_tables(kind, target.server, object.get(entry, "server", null)) # most entries of a large catalog end here
	_keys_rank(table, kind, target) >= _hints_rank(kind, object.get(target, "annotations", null))
	not _description_refused_of(target) # descriptions.rego
}

# _kind_of is the kind of target of an entry with these keys: its server
# (or none) and exactly one target. Undefined for any other shape. A
# function of the keys, not the entry, so that it is worked out once per
# shape of entry.
_kind_of(keys) := kind if {
	some kind, _ in _other_kinds
	kind in keys
	count(keys - {"server"}) == 1
}

_other_kinds := {"tool": ["prompt", "resource"], "prompt": ["tool", "resource"], "resource": ["tool", "prompt"]}

# _hints_rank is _needed_rank_of from a target's kind and annotations, not
# the target, so that equal annotations cost one evaluation per catalog
# (OPA keeps a function's result per arguments within an evaluation).
_hints_rank(kind, annotations) := 1 if {
	kind != "tool"
} else := 1 if {
	annotations.readOnlyHint == true
} else := 3 if {
	not annotations.destructiveHint == false
} else := 2

# _catalog_tables are, for a kind of target, the name of its server and
# the server as the entry has it (name and labels; null when it has none),
# one table per grant that a group of the user has for that server (what
# _grants_in returns): the grant's section for the kind as ranks of exact
# names, and its patterns with their ranks (pattern holds the only one
# when there is one, such as "*"; patterned says there are several).
# Functions, so that only the servers and kinds the catalog has are worked
# out, once each; an entry then costs a lookup (and glob matches only when
# no exact name applies). A group grants an entry when one of its grants
# ranks it high enough, which is _best_rank_in's test.
_catalog_tables(kind, name, server) := [] if {
	server != null
	server.name != name # another server's target: nothing grants it
} else := _tables_of(kind, name, object.get(server, "labels", {})) if {
	server != null
} else := _tables_of(kind, name, {})

_tables_of(kind, server, labels) := _tables_from([section |
	some group in _groups
	some grant in _grants_in(data.mcpgate.config.groups[group], server, labels)
	section := grant[_section_of(kind)]
])

# _tables_from makes the tables of the sections of one kind. A section
# that is a list makes none: a decision on any target of this kind fails
# on it (access.rego matches its indexes as patterns).
_tables_from(sections) := [] if {
	some section in sections
	is_array(section)
	count(section) > 0
} else := [table |
	some section in sections
	is_object(section)
	patterns := [[pattern, _value_rank(value)] |
		some pattern, value in section
		regex.match(`[*?]`, pattern)
	]
	table := object.union(
		{
			"exact": {name: _value_rank(value) | some name, value in section},
			"patterns": patterns,
			"patterned": count(patterns) > 1,
		},
		{"pattern": patterns[0] | count(patterns) == 1},
	)
]

# _keys_rank is _grant_rank_in for a grant's table: the rank of the
# target's name, else the best of the patterns matching it; for a resource
# the best of its URI and URI template named exactly, else of the patterns
# matching either. Undefined when the table mentions none.
_keys_rank(table, kind, target) := table.exact[target.upstream_name] if {
	kind != "resource"
} else := table.pattern[1] if {
	kind != "resource"
	glob.match(table.pattern[0], null, target.upstream_name)
} else := max(ranks) if {
	table.patterned
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
