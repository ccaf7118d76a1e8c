# Descriptions: refuse tools, prompts and resources whose description
# carries a URL or reads like instructions addressed to the model (tool
# poisoning: a description is text the model reads and may obey).
#
# data.mcpgate.config.descriptions (every key optional; absent: rule off):
#   refuse_urls           true: refuse a description that contains a URL,
#                         scheme://host (http, https, ftp, file:///..., any
#                         scheme). "Fetch a URL", "http:// or https://"
#                         and hosts reserved for documentation
#                         (example.com, example.net, example.org and
#                         *.example) do not count.
#   refuse_instructions   true: refuse a description that matches one of
#                         instruction_patterns.
#   instruction_patterns  RE2 regular expressions, matched anywhere in the
#                         description and case-insensitively; absent: the
#                         library's own list (the default _instruction_patterns).
#                         An empty list matches nothing.
#   exempt_servers        server names whose targets are not checked.
# A malformed value (a flag that is not a boolean, a pattern that is not a
# valid expression, an unknown key) refuses every target that has a
# description, on every server, until it is fixed.
#
# Applied in the list phase (a refused target is hidden, by decision and by
# visible, catalog.rego) and in the call phase (refused with the reason).
# The check is a function of the server's name and the description only,
# so that both use the same one; a target without a description costs
# nothing.
package mcpgate.authz

deny contains msg if {
	_target_phase
	desc := _target.description
	_description_refused(_server, desc)
	some finding in _description_findings_or_else(_server, desc)
	msg := sprintf("%s %s of server %s is refused: %s", [_kind, _target_name, _server, finding])
}

# _description_refused_of is _description_refused for a target given as an
# argument (a catalog entry's): false when it has no description. (Not the
# call in visible itself: OPA evaluates a call's arguments before its
# "not", so an undefined description would hide the entry.)
_description_refused_of(target) if {
	desc := target.description
	_description_refused(target.server, desc)
}

# _description_refused says whether a target of server with description
# desc is refused. Several bodies, not an else chain: partial evaluation
# (the decision cache) inlines these. The instruction patterns are tried as
# one expression (_instruction_regex), one match per description.
_description_refused(_, desc) if {
	desc != ""
	count(_description_data_errors) > 0
}

_description_refused(_, desc) if {
	_descriptions_checked
	not is_string(desc)
}

_description_refused(server, desc) if {
	data.mcpgate.config.descriptions.refuse_urls == true
	is_string(desc)
	not server in _exempt_servers
	_has_url(desc)
}

_description_refused(server, desc) if {
	data.mcpgate.config.descriptions.refuse_instructions == true
	is_string(desc)
	count(_instruction_patterns) > 0
	not server in _exempt_servers
	regex.match(_instruction_regex, desc)
}

# _description_findings_or_else are the reasons a refused description is
# refused: _description_findings, or one that says so when it finds none
# (it always finds one: a test proves that it agrees with
# _description_refused).
_description_findings_or_else(server, desc) := findings if {
	findings := _description_findings(server, desc)
	count(findings) > 0
}

_description_findings_or_else(server, desc) := {"its description is refused"} if {
	count(_description_findings(server, desc)) == 0
}

# _description_findings say what a description has that is refused, the
# instruction patterns one by one.
_description_findings(server, desc) := ((errors | not_string) | urls) | instructions if {
	errors := {msg |
		desc != ""
		some error in _description_data_errors
		msg := sprintf("policy data error: descriptions: %s", [error])
	}
	not_string := {"its description is not a string" |
		_descriptions_checked
		not is_string(desc)
	}
	urls := {msg |
		data.mcpgate.config.descriptions.refuse_urls == true
		is_string(desc)
		not server in _exempt_servers
		url := _first_url(desc)
		msg := sprintf("its description contains a URL (%s)", [_cut_at(url, 60)])
	}
	instructions := {msg |
		data.mcpgate.config.descriptions.refuse_instructions == true
		is_string(desc)
		not server in _exempt_servers
		some pattern in _instruction_patterns
		regex.match(concat("", ["(?i)", pattern]), desc)
		msg := sprintf("its description matches the instruction pattern %s", [pattern])
	}
}

# _descriptions_checked: the data turns a check on.
_descriptions_checked if data.mcpgate.config.descriptions.refuse_urls == true

_descriptions_checked if data.mcpgate.config.descriptions.refuse_instructions == true

# URLs: a scheme, "://", and a host (a name, an IPv6 address in brackets)
# or, as file:///etc/passwd has, a path. Only scheme://host is matched, so
# a reason never quotes more of the description than that.
_url_regex := `(?i)\b[a-z][a-z0-9+.-]*://(?:\[[0-9a-f:.]+\]|[a-z0-9_%-]+(?:\.[a-z0-9_%-]+)*|/[a-z0-9._~%-]+)`

# _documentation_url: a URL of a host that RFC 2606 reserves for
# documentation, which can reach nobody.
_documentation_url(url) if regex.match(`(?i)^[^:]+://([a-z0-9_%-]+\.)*(example\.(com|net|org)|example)$`, url)

_urls(desc) := [url |
	contains(desc, "://") # most descriptions have none: no regex for them
	some url in regex.find_n(_url_regex, desc, -1)
	not _documentation_url(url)
]

_has_url(desc) if count(_urls(desc)) > 0

_first_url(desc) := _urls(desc)[0]

_cut_at(s, n) := concat("", [substring(s, 0, n), "…"]) if {
	count(s) > n
} else := s

_exempt_servers := {server | some server in data.mcpgate.config.descriptions.exempt_servers}

# The default _instruction_patterns are what prompt-injection and tool-poisoning
# descriptions say (an instruction to drop the user's instructions, a
# fake tag, a secret kept from the user, orders for the model, reading
# files or calling tools before use, invisible text); ordinary descriptions
# ("Returns the body of one note.", "You must provide an id.") match none.
# rego/descriptions_test.rego lists what each one must and must not match.
default _instruction_patterns := [
	`(ignore|disregard|forget)\s+(all\s+|any\s+)?(of\s+)?(the\s+|your\s+)?(previous|prior|above|earlier|preceding|other)\s+(instructions|directions|rules|prompts?)`,
	`<\s*/?\s*(important|system|instructions?)\s*>`,
	`(do\s+not|don'?t|don’t|never)\s+(tell|inform|mention|reveal|notify|alert|show)\b[^.]{0,40}\buser`,
	`you\s+(must|should)\s+(always|never|first)\b`,
	`(reveal|repeat|print|output|include|send|share|leak)\b[^.]{0,40}\b(system\s+prompt|your\s+instructions)`,
	`before\s+(using|calling|running)\s+this\s+tool\b[^.]{0,40}\b(read|send|call|fetch|include|pass|upload)`,
	`[\x{E0000}-\x{E007F}]`,
]

_instruction_patterns := [p |
	some p in data.mcpgate.config.descriptions.instruction_patterns
	is_string(p)
	regex.is_valid(p)
] if {
	is_array(data.mcpgate.config.descriptions.instruction_patterns)
}

# _instruction_regex matches where one of the patterns matches.
_instruction_regex := concat("|", [concat("", ["(?i:", p, ")"]) | some p in _instruction_patterns])

# _description_data_errors say what is wrong with the data (none when it
# is absent).
_description_keys := {"refuse_urls", "refuse_instructions", "instruction_patterns", "exempt_servers"}

_description_data_errors contains "must be an object" if {
	cfg := data.mcpgate.config.descriptions
	not is_object(cfg)
}

_description_data_errors contains sprintf("unknown key %s", [key]) if {
	some key, _ in data.mcpgate.config.descriptions
	is_string(key)
	not key in _description_keys
}

_description_data_errors contains sprintf("%s must be true or false", [key]) if {
	some key in ["refuse_urls", "refuse_instructions"]
	value := data.mcpgate.config.descriptions[key]
	not is_boolean(value)
}

_description_data_errors contains sprintf("%s must be a list", [key]) if {
	some key in ["instruction_patterns", "exempt_servers"]
	value := data.mcpgate.config.descriptions[key]
	not is_array(value)
}

_description_data_errors contains sprintf("instruction pattern %v is not a valid regular expression", [pattern]) if {
	patterns := data.mcpgate.config.descriptions.instruction_patterns
	is_array(patterns)
	some pattern in patterns
	not _valid_regex(pattern)
}

_description_data_errors contains sprintf("exempt server %v is not a string", [server]) if {
	some server in data.mcpgate.config.descriptions.exempt_servers
	not is_string(server)
}

_valid_regex(p) if {
	is_string(p)
	regex.is_valid(p)
}
