# Registration: may an OAuth client register with the gateway's
# authorization server (phase register)? Nobody is signed in yet, so these
# rules look only at the client's registration, which is its own claim.
#
# data.mcpgate.config.registration may hold:
#   dynamic                  false turns RFC 7591 dynamic registration off
#                            (default true).
#   metadata_document_hosts  the hosts whose client ID metadata documents
#                            are accepted (the host of the client id URL):
#                            exact names, "*.example.com" for any name under
#                            example.com, or "*" for any (the default). An
#                            empty list accepts none.
#   redirect_hosts           when not empty, every redirect URI of a
#                            client, either way, must have one of these
#                            hosts (same patterns; e.g. "127.0.0.1" and
#                            "localhost" for native clients). Default: any.
package mcpgate.authz

_registration_cfg := object.get(_cfg, "registration", {})

_registration := object.get(input, "registration", {})

_registration_method := object.get(_registration, "method", null)

_permitted if {
	input.phase == "register"
	_registration_method == "dynamic"
	_dynamic_open
}

_permitted if {
	input.phase == "register"
	_registration_method == "metadata_document"
	_host_allowed(_document_host, _document_hosts)
}

_dynamic_open if not object.get(_registration_cfg, "dynamic", true) == false

_document_hosts := object.get(_registration_cfg, "metadata_document_hosts", ["*"])

# _document_host is the host of the metadata document's URL, the client id.
_document_host := lower(match[0][1]) if {
	match := regex.find_all_string_submatch_n(
		`^https://([^/?#:@\[\]]+)(?::[0-9]+)?(?:[/?#]|$)`,
		object.get(_registration, "client_id", ""), 1,
	)
	count(match) == 1
}

# _host_allowed: host matches one of patterns (a name, "*.domain" or "*").
_host_allowed(_, patterns) if "*" in patterns

_host_allowed(host, patterns) if {
	some pattern in patterns
	lower(pattern) == lower(host)
}

_host_allowed(host, patterns) if {
	some pattern in patterns
	startswith(pattern, "*.")
	endswith(lower(host), lower(substring(pattern, 1, -1)))
}

grants contains "dynamic client registration is open" if {
	input.phase == "register"
	_registration_method == "dynamic"
	_dynamic_open
}

grants contains msg if {
	input.phase == "register"
	_registration_method == "metadata_document"
	_host_allowed(_document_host, _document_hosts)
	msg := sprintf("client metadata documents from %s are accepted", [_document_host])
}

deny contains msg if {
	input.phase == "register"
	not _registration_method in {"dynamic", "metadata_document"}
	msg := sprintf("unknown registration method %v", [_registration_method])
}

deny contains "dynamic client registration is turned off (data.mcpgate.config.registration.dynamic)" if {
	input.phase == "register"
	_registration_method == "dynamic"
	not _dynamic_open
}

deny contains msg if {
	input.phase == "register"
	_registration_method == "metadata_document"
	not _document_host
	msg := sprintf("client id %v is not the https URL of a metadata document", [object.get(_registration, "client_id", null)])
}

deny contains msg if {
	input.phase == "register"
	_registration_method == "metadata_document"
	_document_host
	not _host_allowed(_document_host, _document_hosts)
	msg := sprintf("client metadata documents from %s are not accepted (data.mcpgate.config.registration.metadata_document_hosts: %s)", [
		_document_host,
		_host_list(_document_hosts),
	])
}

deny contains msg if {
	input.phase == "register"
	allowed := object.get(_registration_cfg, "redirect_hosts", [])
	count(allowed) > 0
	some host in object.get(_registration, "redirect_hosts", [])
	not _host_allowed(host, allowed)
	msg := sprintf("redirect host %s is not allowed (data.mcpgate.config.registration.redirect_hosts: %s)", [
		host,
		_host_list(allowed),
	])
}

_host_list(hosts) := "none" if {
	count(hosts) == 0
} else := concat(", ", hosts)
