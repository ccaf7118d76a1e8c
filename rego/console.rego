# Console: may a signed-in employee use the security team's web console
# (phase console, docs/console.md)? The console asks once per page:
#   console/servers, console/explorer, console/decisions, console/policy
#                    view a page (the explorer's "what if" included);
#   console/revoke   revoke a grant of the authorization server (input.client
#                    names the OAuth client) or an employee's upstream
#                    connection (input.server names the upstream).
#
# data.mcpgate.config.console may hold:
#   groups           the groups whose members may view the console
#                    (default: none, so nobody).
#   operator_groups  the groups whose members may also revoke (default:
#                    none). An operator must be able to view, too.
package mcpgate.authz

_console_cfg := object.get(data.mcpgate.config, "console", {})

_console_viewers := {g | some g in object.get(_console_cfg, "groups", [])}

_console_operators := {g | some g in object.get(_console_cfg, "operator_groups", [])}

_console_pages := {"console/servers", "console/explorer", "console/decisions", "console/policy"}

_console_viewer_groups := {g | some g in _groups; g in _console_viewers}

_console_operator_groups := {g | some g in _groups; g in _console_operators}

_permitted if {
	input.phase == "console"
	input.method in _console_pages
	count(_console_viewer_groups) > 0
}

_permitted if {
	input.phase == "console"
	input.method == "console/revoke"
	count(_console_viewer_groups) > 0
	count(_console_operator_groups) > 0
}

grants contains msg if {
	input.phase == "console"
	input.method in _console_pages
	some g in _console_viewer_groups
	msg := sprintf("group %s may view the console", [g])
}

grants contains msg if {
	input.phase == "console"
	input.method == "console/revoke"
	count(_console_viewer_groups) > 0
	some g in _console_operator_groups
	msg := sprintf("group %s may revoke in the console", [g])
}

deny contains msg if {
	input.phase == "console"
	not input.method in _console_pages
	input.method != "console/revoke"
	msg := sprintf("unknown console method %v", [input.method])
}

deny contains msg if {
	input.phase == "console"
	count(_console_viewer_groups) == 0
	msg := sprintf("user %s (%s) is in none of the groups that may use the console: %s", [
		_user, _group_list, _console_group_names(_console_viewers),
	])
}

deny contains msg if {
	input.phase == "console"
	input.method == "console/revoke"
	count(_console_operator_groups) == 0
	msg := sprintf("user %s (%s) is in none of the groups that may revoke: %s", [
		_user, _group_list, _console_group_names(_console_operators),
	])
}

_console_group_names(groups) := "none is configured (data.mcpgate.config.console)" if {
	count(groups) == 0
} else := concat(", ", sort(groups))
