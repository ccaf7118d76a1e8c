# Token scopes: the scopes an access token must carry to call a server.
#
# data.mcpgate.config.scopes.<server> (or "*" for every server; both apply)
# is a list of scopes. In the call phase a token that lacks any of them is
# denied with required_scopes set to every scope the server needs, which the
# gateway turns into HTTP 403 insufficient_scope so the client can ask the
# user for more. Scopes do not apply when listing: the tool stays visible
# and its call starts the step-up.
package mcpgate.authz

_server_scopes contains scope if {
	_call_phase
	some scope in _cfg.scopes[_server]
}

_server_scopes contains scope if {
	_call_phase
	some scope in _cfg.scopes["*"]
}

_token_scopes := {s | some s in object.get(input.token, "scopes", [])}

_missing_scopes contains scope if {
	some scope in _server_scopes
	not scope in _token_scopes
}

required_scopes contains scope if {
	count(_missing_scopes) > 0
	some scope in _server_scopes
}

deny contains msg if {
	count(_missing_scopes) > 0
	msg := sprintf("token lacks scope %s required by server %s", [
		concat(" ", sort(_missing_scopes)),
		_server,
	])
}
