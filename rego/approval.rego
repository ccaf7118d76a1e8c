# Approval: who may use a tool, prompt or resource before the security
# team approved its definition (tool pinning, docs/approval.md).
#
# When approval is on for a server, the gateway puts the target's state in
# input.tool.approval (input.prompt.approval, input.resource.approval, and
# in every entry of input.catalog): "approved", "modified" (its definition
# changed since it was approved) or "new" (never approved). The field is
# absent when approval is off for the server.
#
# The library does not deny a target that is not approved: on a server in
# enforce mode the gateway itself hides a "modified" or "new" target from
# lists, and refuses its calls as awaiting approval, unless the decision
# has both allow and allow_unapproved true. allow_unapproved is what this
# file decides; it never makes allow true.
#
# data.mcpgate.config.approval.allow_unapproved maps a group to the states
# its members may use before approval, e.g. {"admin": ["new", "modified"]}.
# allow_unapproved is true in the list and call phases when the request is
# allowed and a group of the user lists the target's state; otherwise (no
# data, no state, another phase, a denied request) it is false.
package mcpgate.authz

default allow_unapproved := false

allow_unapproved if {
	_target_phase
	allow
	_unapproved_granted
}

# _unapproved_granted: a group of the user lists the target's approval
# state. A lookup per group of the user, whatever the number of groups in
# the data.
_unapproved_granted if {
	state := _target.approval
	some group in _groups
	some listed in data.mcpgate.config.approval.allow_unapproved[group]
	listed == state
}
