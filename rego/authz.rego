# Package mcpgate.authz decides every MCP request the gateway sees. The
# gateway reads one document, decision; everything else here is a helper.
#
# The rules are generic: the security team edits data (data.json, loaded at
# data.mcpgate.config), not these files. docs/policy.md explains both.
#
# Phases (input.phase):
#   initialize  may this user open a session at all?
#   list        may this user see this tool, prompt or resource? Decided
#               only from who the user is and what the target is, never from
#               arguments, time or client, so the gateway can cache it per
#               (identity, policy revision, catalog revision).
#   call        may this user make this call now? The list rules again, plus
#               argument, time-window, client and token-scope rules.
#   register    may this OAuth client register (authorization-server mode;
#               register.rego)? Nobody is signed in.
#   grant       which scopes does an OAuth client get for the user? Decided
#               by grant (grant.rego), never by decision.
#   upstream    which scopes does the gateway ask an upstream's own
#               authorization server for? Decided by upstream_scopes
#               (upstream.rego), never by decision.
#   console     may this employee view a page of the web console, or
#               revoke there (console.rego)?
package mcpgate.authz

# A decision that is missing or fails to evaluate denies; this default only
# makes that explicit in the document itself.
default decision := {
	"allow": false,
	"allow_unapproved": false,
	"reasons": ["policy could not decide this request"],
	"required_scopes": [],
}

# allow_unapproved (approval.rego) says whether the gateway may let an
# allowed target through before its definition is approved; it never
# allows anything by itself.
decision := {
	"allow": allow,
	"allow_unapproved": allow_unapproved,
	"reasons": sort(reasons),
	"required_scopes": sort(required_scopes),
}

default allow := false

# allow needs a positive grant and no deny reason.
allow if {
	_permitted
	count(deny) == 0
}

# reasons explain the decision: who granted an allowed request, or every
# rule that denied it.
# (Three rules, not an else chain: partial evaluation, which the decision
# cache relies on, inlines these but keeps an else chain as a call.)
reasons := grants if allow

reasons := deny if {
	not allow
	count(deny) > 0
}

reasons := {"no rule allows this request"} if {
	not allow
	count(deny) == 0
}

# _cfg is the editable data (rego/data.json). The library itself writes
# data.mcpgate.config.<key> in full: partial evaluation (the decision
# cache) would otherwise copy the whole document into every expression
# that reads it, which costs milliseconds with a thousand groups.
_cfg := data.mcpgate.config

_phases := {"initialize", "list", "call", "register", "grant", "upstream", "console"}

# _phase is null when the input has none (never undefined: "not x in s"
# is undefined, not true, when x is).
# Fields are read by name, never as object.get(input, ...) or input[x]: the
# gateway's decision cache partially evaluates the decision with the
# per-call fields unknown (docs/policy.md), and a read of the whole input
# would make every decision depend on them.
default _phase := null

_phase := input.phase

# _target_phase is true in the phases that name one tool, prompt or resource.
_target_phase if input.phase in {"list", "call"}

deny contains msg if {
	not _phase in _phases
	msg := sprintf("unknown phase %v", [_phase])
}

deny contains "phase grant is decided by data.mcpgate.authz.grant, not decision" if input.phase == "grant"

deny contains "phase upstream is decided by data.mcpgate.authz.upstream_scopes, not decision" if input.phase == "upstream"

_permitted if {
	input.phase == "initialize"
	_session_allowed
}

_permitted if {
	_target_phase
	_access_granted
}

# _kinds names the targets the input carries; exactly one is expected.
_kinds contains "tool" if is_object(input.tool)

_kinds contains "prompt" if is_object(input.prompt)

_kinds contains "resource" if is_object(input.resource)

_kind := kind if {
	count(_kinds) == 1
	some kind in _kinds
}

deny contains "request names no tool, prompt or resource" if {
	_target_phase
	count(_kinds) == 0
}

deny contains msg if {
	_target_phase
	count(_kinds) > 1
	msg := sprintf("request names more than one target (%s)", [concat(", ", sort(_kinds))])
}

_target := input.tool if {
	_kind == "tool"
} else := input.prompt if {
	_kind == "prompt"
} else := input.resource if {
	_kind == "resource"
}

# _server is the upstream the target belongs to; in the upstream phase
# without a target (the connect page), the server of the input.
_server := _target.server

_server := input.server.name if {
	input.phase == "upstream"
	not _target
}

deny contains msg if {
	_target_phase
	input.server.name != _server
	msg := sprintf("target belongs to server %s, not %s", [_server, input.server.name])
}

# _target_name is how reasons name the target: as the client sees it.
_target_name := _target.name if {
	_kind != "resource"
} else := _target.uri if {
	_target.uri
} else := _target.uri_template

# _groups are the user's groups; the gateway sends null for none.
_groups := input.user.groups if {
	is_array(input.user.groups)
} else := []

# _user names the user in reasons.
_user := object.get(input.user, "email", input.user.sub)

# _call_phase guards every rule that may read arguments, time or client.
_call_phase if input.phase == "call"
