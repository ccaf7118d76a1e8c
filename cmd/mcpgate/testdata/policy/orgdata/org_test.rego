package mcpgate.authz_org_test

import data.mcpgate.authz

test_eng_reads_notes if {
	d := authz.decision with input as {"phase": "call", "method": "tools/call", "user": {"sub": "a", "iss": "i", "groups": ["eng"], "claims": {}}, "token": {"scopes": [], "aud": []}, "server": {"name": "notes", "labels": {}}, "tool": {"name": "notes__read", "upstream_name": "read", "server": "notes", "annotations": {"readOnlyHint": true}}, "arguments": {}, "request": {"time": "2026-01-01T00:00:00Z"}}
	d.allow
}
