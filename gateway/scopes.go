package gateway

import (
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
)

// scopesByServer returns, for each configured server that has any, the
// catalogue entries of that server and of "*", in catalogue order. They
// are built once, so a call's input only points at its server's entries.
func scopesByServer(servers []config.Server, catalogue []policy.Scope) map[string][]policy.Scope {
	if len(catalogue) == 0 {
		return nil
	}
	out := make(map[string][]policy.Scope, len(servers))
	for _, s := range servers {
		var entries []policy.Scope
		for _, e := range catalogue {
			if e.Server == s.Name || e.Server == config.ScopeServerAll {
				entries = append(entries, e)
			}
		}
		if len(entries) > 0 {
			out[s.Name] = entries[:len(entries):len(entries)] // shared: no append may write into it
		}
	}
	return out
}
