# Benchmark fixture shaped like the shipped library: groups grant servers,
# servers list tools by exact name (object lookups, no globs), annotations
# gate destructive tools, and one argument constraint.
package mcpgate.authz

decision := {"allow": allow, "reasons": reasons}

default allow := false

allow if {
	granted
	count(deny) == 0
}

reasons := deny if count(deny) > 0
else := {"no group grants this tool"} if not granted
else := set()

# grants are the per-server grants of the caller's groups.
grants contains grant if {
	some group in input.user.groups
	grant := data.groups[group].servers[input.tool.server]
}

granted if {
	some grant in grants
	grant.tools[input.tool.upstream_name]
}

granted if {
	some grant in grants
	grant.tools["*"]
}

read_only if input.tool.annotations.readOnlyHint == true

deny contains "destructive tools need a group that allows them" if {
	input.tool.annotations.destructiveHint == true
	not destructive_allowed
}

destructive_allowed if {
	some grant in grants
	grant.destructive == true
}

deny contains "write tools need the mcp:write scope" if {
	not read_only
	not "mcp:write" in input.token.scopes
}

# A helper rule, so a missing path denies too: `not startswith(x, …)` with x
# undefined is undefined (the ref is evaluated outside the negation).
deny contains "path must stay under /notes/" if {
	input.phase == "call"
	not path_ok
}

path_ok if startswith(input.arguments.path, "/notes/")
