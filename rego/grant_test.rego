package mcpgate.authz_test

import data.mcpgate.authz

# A scope catalogue over the demo servers, every level and "*".
demo_catalogue := [
	{"name": "notes:read", "description": "Read your notes", "server": "notes", "level": "read"},
	{"name": "notes:write", "server": "notes", "level": "write"},
	{"name": "notes:all", "server": "notes", "level": "all"},
	{"name": "hr:read", "server": "hr", "level": "read"},
	{"name": "hr", "server": "hr", "level": "all"},
	{"name": "mcp:read", "server": "*", "level": "read"},
	{"name": "mcp", "server": "*", "level": "all"},
]

demo_scopes := [entry.name | some entry in demo_catalogue]

grant_input(user, requested) := {
	"phase": "grant",
	"method": "oauth/authorize",
	"user": {"sub": user, "iss": "http://127.0.0.1:8080/dev", "groups": users[user], "claims": {}},
	"client": {"id": "client-1", "name": "test-client"},
	"catalogue": demo_catalogue,
	"grant": {"requested": requested, "current": [], "reason": "authorize"},
	"request": {"time": "2026-03-02T10:00:00Z"},
}

# What each demo user gets when asking for the whole catalogue: scopes of
# a server up to the user's level on it; "*" scopes up to the best level on
# any server.
demo_grants := {
	"alice": ["mcp:read", "notes:read", "notes:write"],
	"bob": ["hr", "hr:read", "mcp", "mcp:read", "notes:read"],
	"carol": sort(demo_scopes),
	"mallory": [],
}

test_demo_grants if {
	mismatched := [[user, got, want] |
		some user, want in demo_grants
		got := authz.grant.scopes with input as grant_input(user, demo_scopes)
		got != want
	]
	mismatched == []
}

test_grant_reasons if {
	g := authz.grant with input as grant_input("bob", ["notes:read", "notes:write", "mcp", "calendar"])
	g == {
		"scopes": ["mcp", "notes:read"],
		"reasons": [
			"group hr grants scope mcp: it has level all on a server",
			"group hr grants scope notes:read: it has level read on server notes",
			"scope calendar refused: it is not in the scope catalogue",
			"scope notes:write refused: no group of user bob (groups: hr) has level write on server notes",
		],
	}
}

test_mallory_gets_nothing if {
	g := authz.grant with input as grant_input("mallory", ["notes:read", "mcp:read"])
	g.scopes == []
	g.reasons == [
		"scope mcp:read refused: no group of user mallory (groups: none) has level read on a server",
		"scope notes:read refused: no group of user mallory (groups: none) has level read on server notes",
	]
}

test_only_requested_scopes if {
	authz.grant.scopes == ["notes:read"] with input as grant_input("carol", ["notes:read"])
	authz.grant.scopes == [] with input as grant_input("carol", [])
}

test_unknown_scopes_are_never_granted if {
	g := authz.grant with input as grant_input("carol", ["calendar", "openid", "offline_access"])
	g.scopes == []
	count(g.reasons) == 3
}

# A refresh decides again: what the user lost is not granted, whatever the
# client had.
test_refresh_decides_again if {
	inp := json.patch(grant_input("alice", ["hr:read", "notes:read"]), [{"op": "replace", "path": "/grant", "value": {
		"requested": ["hr:read", "notes:read"],
		"current": ["hr:read", "notes:read"], "reason": "refresh",
	}}])
	authz.grant.scopes == ["notes:read"] with input as inp
}

test_levels_from_tool_names_prompts_and_resources if {
	cfg := with_groups({"g": {"servers": {"notes": {"tools": {"read_note": "read"}}}}})
	authz.grant.scopes == ["mcp:read", "notes:read"] with input as as_user(grant_input("mallory", demo_scopes), ["g"])
		with data.mcpgate.config as cfg
	prompts := with_groups({"g": {"servers": {"notes": {"prompts": {"*": true}}}}})
	authz.grant.scopes == ["mcp:read", "notes:read"] with input as as_user(grant_input("mallory", demo_scopes), ["g"])
		with data.mcpgate.config as prompts
	none := with_groups({"g": {"servers": {"notes": {"tools": {"*": "none"}, "resources": {"*": false}}}}})
	authz.grant.scopes == [] with input as as_user(grant_input("mallory", demo_scopes), ["g"]) with data.mcpgate.config as none
}

test_exact_server_beats_pattern if {
	cfg := with_groups({"g": {"servers": {"notes": {"tools": {"*": "read"}}, "*": {"tools": {"*": "all"}}}}})
	g := authz.grant with input as as_user(grant_input("mallory", demo_scopes), ["g"]) with data.mcpgate.config as cfg
	g.scopes == ["hr", "hr:read", "mcp", "mcp:read", "notes:read"]
	"scope notes:write refused: no group of user mallory (groups: g) has level write on server notes" in g.reasons
}

test_grant_groups_add_up if {
	g := authz.grant with input as as_user(grant_input("alice", ["notes:write", "hr:read"]), ["engineering", "hr"])
	g.scopes == ["hr:read", "notes:write"]
	g.reasons == [
		"group engineering grants scope notes:write: it has level write on server notes",
		"group hr grants scope hr:read: it has level all on server hr",
	]
}

# Labels are not known in the grant phase: a group granted a server only
# through a label gets its scopes through scope_grants.
test_labels_do_not_count_scope_grants_do if {
	catalogue := [{"name": "ledger:read", "server": "ledger", "level": "read"}]
	inp := json.patch(as_user(grant_input("mallory", ["ledger:read"]), ["finance"]), [{"op": "replace", "path": "/catalogue", "value": catalogue}])
	cfg := with_groups({"finance": {"labels": {"team": {"finance": {"tools": {"*": "write"}}}}}})
	g := authz.grant with input as inp with data.mcpgate.config as cfg
	g.scopes == []
	listed := object.union(cfg, {"scope_grants": {"ledger:read": ["finance"]}})
	authz.grant with input as inp with data.mcpgate.config as listed == {
		"scopes": ["ledger:read"],
		"reasons": ["group finance grants scope ledger:read (data.mcpgate.config.scope_grants)"],
	}
}

test_scope_grants_only_for_catalogue_scopes if {
	cfg := object.union(data.mcpgate.config, {"scope_grants": {"calendar": ["engineering"]}})
	authz.grant.scopes == [] with input as grant_input("alice", ["calendar"]) with data.mcpgate.config as cfg
}

test_entry_without_level_is_all if {
	inp := json.patch(grant_input("alice", ["notes"]), [{"op": "replace", "path": "/catalogue", "value": [{"name": "notes", "server": "notes"}]}])
	g := authz.grant with input as inp
	g.reasons == ["scope notes refused: no group of user alice (groups: engineering) has level all on server notes"]
	authz.grant.scopes == ["notes"] with input as as_user(inp, ["admin"])
}

test_unknown_level_is_refused if {
	inp := json.patch(grant_input("carol", ["notes:admin"]), [{"op": "replace", "path": "/catalogue", "value": [{"name": "notes:admin", "server": "notes", "level": "admin"}]}])
	authz.grant with input as inp == {
		"scopes": [],
		"reasons": ["scope notes:admin refused: its level admin is not read, write or all"],
	}
}

# Inputs the gateway would not send grant nothing.
test_malformed_grant_inputs_grant_nothing if {
	granted := [[name, g.scopes] |
		some name, inp in {
			"requested null": json.patch(grant_input("carol", []), [{"op": "replace", "path": "/grant/requested", "value": null}]),
			"requested a string": json.patch(grant_input("carol", []), [{"op": "replace", "path": "/grant/requested", "value": "notes:read"}]),
			"no grant": object.remove(grant_input("carol", demo_scopes), ["grant"]),
			"no catalogue": object.remove(grant_input("carol", demo_scopes), ["catalogue"]),
			"groups null": json.patch(grant_input("carol", demo_scopes), [{"op": "replace", "path": "/user/groups", "value": null}]),
			"no user": object.remove(grant_input("carol", demo_scopes), ["user"]),
		}
		g := authz.grant with input as inp
		g.scopes != []
	]
	granted == []
}

test_grant_outside_the_grant_phase_is_the_default if {
	inp := object.union(grant_input("carol", demo_scopes), {"phase": "call"})
	authz.grant with input as inp == {"scopes": [], "reasons": ["policy could not decide this grant"]}
	no_phase := object.remove(grant_input("carol", demo_scopes), ["phase"])
	authz.grant.scopes == [] with input as no_phase
}

test_grant_without_data_grants_nothing if {
	authz.grant.scopes == [] with input as grant_input("carol", demo_scopes) with data.mcpgate.config as {}
}
