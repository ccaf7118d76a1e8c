# Read-only versus destructive tools, from the tool's annotations.
#
# Levels of a tool grant:
#   read   only tools that declare readOnlyHint true
#   write  any tool that is not destructive
#   all    every tool, destructive ones included
#   none   nothing (an exception to a broader pattern)
# MCP's defaults apply to missing hints: a tool is read-only only if it says
# readOnlyHint true, and a tool that is not read-only is destructive unless
# it says destructiveHint false. So a tool without annotations needs "all".
# Annotations are the upstream's claim; approve upstreams you trust.
# Prompts and resources only read, so any grant of them is enough.
package mcpgate.authz

_annotations := object.get(input.tool, "annotations", {})

_read_only if _annotations.readOnlyHint == true

_destructive if {
	not _read_only
	not _annotations.destructiveHint == false
}

# _needed_rank is the level (see _rank) the target requires.
_needed_rank := 1 if {
	_kind != "tool"
} else := 1 if {
	_read_only
} else := 3 if {
	_destructive
} else := 2

deny contains msg if {
	_target_phase
	not _access_granted
	_kind == "tool"
	some group, rank in _group_rank
	rank == 1
	msg := sprintf("group %s may only use read-only tools of server %s, and %s is not read-only", [
		group, _server,
		_target_name,
	])
}

deny contains msg if {
	_target_phase
	not _access_granted
	_destructive
	some group, rank in _group_rank
	rank == 2
	msg := sprintf("group %s may not use destructive tool %s", [group, _target_name])
}

# _needed_rank_of is _needed_rank for a target given as arguments (a
# catalog entry, catalog.rego). _needed_rank itself stays a rule of the
# input: without a target (the upstream phase's connect page) it is 3.
_needed_rank_of(kind, target) := 1 if {
	kind != "tool"
} else := 1 if {
	object.get(target, "annotations", {}).readOnlyHint == true
} else := 3 if {
	not object.get(target, "annotations", {}).destructiveHint == false
} else := 2
