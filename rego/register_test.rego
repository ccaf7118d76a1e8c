package mcpgate.authz_test

import data.mcpgate.authz

register_input(registration) := {
	"phase": "register",
	"method": "oauth/register",
	"registration": object.union(
		{"redirect_uris": ["http://127.0.0.1:33418/callback"], "redirect_hosts": ["127.0.0.1"], "grant_types": ["authorization_code"]},
		registration,
	),
	"request": {"remote_addr": "192.0.2.10", "time": "2026-03-02T10:00:00Z"},
}

dynamic := register_input({"method": "dynamic", "client_name": "Example App"})

document(client_id) := register_input({"method": "metadata_document", "client_id": client_id})

with_registration(registration) := object.union(data.mcpgate.config, {"registration": registration})

test_both_methods_are_allowed_by_default if {
	authz.decision with input as dynamic == {"allow": true, "allow_unapproved": false, "reasons": ["dynamic client registration is open"], "required_scopes": []}
	d := authz.decision with input as document("https://app.example.com/oauth/client.json")
	d == {"allow": true, "allow_unapproved": false, "reasons": ["client metadata documents from app.example.com are accepted"], "required_scopes": []}
	authz.decision.allow with input as dynamic with data.mcpgate.config as object.remove(data.mcpgate.config, ["registration"])
}

test_dynamic_registration_off if {
	cfg := with_registration({"dynamic": false})
	d := authz.decision with input as dynamic with data.mcpgate.config as cfg
	d == {"allow": false, "allow_unapproved": false, "reasons": ["dynamic client registration is turned off (data.mcpgate.config.registration.dynamic)"], "required_scopes": []}
	authz.decision.allow with input as document("https://app.example.com/c.json") with data.mcpgate.config as cfg
}

test_metadata_document_hosts if {
	cfg := with_registration({"metadata_document_hosts": ["app.example.com", "*.tools.example"]})
	allowed := {
		"https://app.example.com/c.json",
		"https://APP.example.com:8443/c.json",
		"https://a.tools.example/c.json",
		"https://a.b.tools.example/client?id=1",
	}
	refused := {
		"https://evil.example/c.json",
		"https://tools.example/c.json",
		"https://eviltools.example/c.json",
		"https://app.example.com.evil.example/c.json",
	}
	{id | some id in allowed; authz.decision.allow with input as document(id) with data.mcpgate.config as cfg} == allowed
	{id | some id in refused; not authz.decision.allow with input as document(id) with data.mcpgate.config as cfg} == refused
	d := authz.decision with input as document("https://evil.example/c.json") with data.mcpgate.config as cfg
	d.reasons == ["client metadata documents from evil.example are not accepted (data.mcpgate.config.registration.metadata_document_hosts: app.example.com, *.tools.example)"]
	authz.decision.allow with input as dynamic with data.mcpgate.config as cfg
}

test_no_metadata_document_hosts if {
	d := authz.decision with input as document("https://app.example.com/c.json") with data.mcpgate.config as with_registration({"metadata_document_hosts": []})
	d.reasons == ["client metadata documents from app.example.com are not accepted (data.mcpgate.config.registration.metadata_document_hosts: none)"]
}

test_client_id_must_be_an_https_url if {
	reasons := {id: d.reasons |
		some id in ["http://app.example.com/c.json", "https://user@app.example.com/c.json", "app.example.com", ""]
		d := authz.decision with input as document(id)
		not d.allow
	}
	reasons["app.example.com"] == ["client id app.example.com is not the https URL of a metadata document"]
	count(reasons) == 4
	missing := authz.decision with input as register_input({"method": "metadata_document"})
	missing.reasons == ["client id null is not the https URL of a metadata document"]
}

test_redirect_hosts if {
	cfg := with_registration({"redirect_hosts": ["127.0.0.1", "localhost", "*.example.com"]})
	authz.decision.allow with input as dynamic with data.mcpgate.config as cfg
	evil := json.patch(document("https://app.example.com/c.json"), [{"op": "replace", "path": "/registration/redirect_hosts", "value": ["app.example.com", "evil.example", "localhost"]}])
	d := authz.decision with input as evil with data.mcpgate.config as cfg
	d.reasons == ["redirect host evil.example is not allowed (data.mcpgate.config.registration.redirect_hosts: 127.0.0.1, localhost, *.example.com)"]
	not d.allow
	any := json.patch(evil, [{"op": "replace", "path": "/registration/redirect_hosts", "value": null}])
	authz.decision.allow with input as any with data.mcpgate.config as cfg

	# A private-use scheme has no host: the gateway lists it as the scheme
	# and a colon, which the rule must name.
	native := json.patch(dynamic, [{"op": "replace", "path": "/registration/redirect_hosts", "value": ["com.evil.app:"]}])
	not authz.decision.allow with input as native with data.mcpgate.config as cfg
	named := with_registration({"redirect_hosts": ["127.0.0.1", "com.evil.app:"]})
	authz.decision.allow with input as native with data.mcpgate.config as named
}

test_unknown_registration_method if {
	d := authz.decision with input as register_input({"method": "manual"})
	d == {"allow": false, "allow_unapproved": false, "reasons": ["unknown registration method manual"], "required_scopes": []}
	none := authz.decision with input as object.remove(dynamic, ["registration"])
	none.reasons == ["unknown registration method null"]
}

# A registration is decided on the registration alone: a user, had one
# been sent, changes nothing, and the rules of the other phases stay out.
test_registration_ignores_user_and_call_rules if {
	with_user := object.union(dynamic, {"user": {"sub": "mallory", "iss": "x", "groups": [], "claims": {}}})
	authz.decision.allow with input as with_user
	cfg := object.union(data.mcpgate.config, {
		"initialize": {"groups": ["admin"]},
		"conditions": {"*": {"hours": [{"days": ["Sunday"]}], "clients": ["nobody"]}},
		"scopes": {"*": ["never-granted"]},
	})
	authz.decision.allow with input as dynamic with data.mcpgate.config as cfg
}
