package config

import (
	"slices"
	"strconv"
	"strings"
)

// Levels of a scope: what the scope lets a client do on its server, in the
// terms of the policy library's tool levels (rego/readonly.rego).
const (
	// ScopeLevelRead covers read-only tools, prompts and resources.
	ScopeLevelRead = "read"
	// ScopeLevelWrite covers every tool that is not destructive as well.
	ScopeLevelWrite = "write"
	// ScopeLevelAll covers every tool, destructive ones included.
	ScopeLevelAll = "all"
)

// ScopeServerAll is the Server of a scope that applies to every server.
const ScopeServerAll = "*"

// reservedScopes are managed by the authorization server itself and may not
// be catalogue entries.
var reservedScopes = []string{"openid", "offline_access"}

// Scope is one entry of the scope catalogue: an OAuth scope that clients
// may ask for, which names a server and a level. Every grant of a scope is
// a policy decision (phase grant), and a call needs a token carrying a
// catalogue scope that covers its target (docs/policy.md).
type Scope struct {
	// Name is the scope as clients ask for it, e.g. "notes:read": an
	// RFC 6749 scope-token (printable ASCII without spaces, '"' and '\'),
	// unique in the catalogue, and never "openid" or "offline_access"
	// (the authorization server manages those). Required.
	Name string `yaml:"name"`

	// Description says what the scope allows, in words for the employee
	// who consents to it. If omitted, the consent page shows the name.
	Description string `yaml:"description,omitempty"`

	// Server is the name of one of the configured servers, or "*" for
	// every server. Required.
	Server string `yaml:"server"`

	// Level is "read", "write" or "all" (see rego/readonly.rego): the
	// tools of Server the scope covers. Prompts and resources need "read".
	// If omitted, defaults to "all". Use [Scope.EffectiveLevel].
	Level string `yaml:"level,omitempty"`
}

// EffectiveLevel returns the scope's level: Level, or "all" when empty.
func (s *Scope) EffectiveLevel() string {
	if s.Level == "" {
		return ScopeLevelAll
	}
	return s.Level
}

// validateScopes checks the catalogue against the configured servers.
func (c *Config) validateScopes(ps *problems) {
	servers := make([]string, 0, len(c.Servers)+1)
	for _, s := range c.Servers {
		servers = append(servers, s.Name)
	}
	names := map[string]int{}
	for i := range c.Scopes {
		s := &c.Scopes[i]
		path := "scopes[" + strconv.Itoa(i) + "]"
		if validateScopeName(ps, path+".name", s.Name) {
			checkUnique(ps, names, s.Name, i, path+".name", "scope names must be unique")
		}
		if hasControlChars(s.Description) {
			ps.add(path+".description", "must not contain control characters: it is shown on one line of the consent page")
		}
		validateScopeServer(ps, path+".server", s.Server, servers)
		switch s.Level {
		case "", ScopeLevelRead, ScopeLevelWrite, ScopeLevelAll:
		default:
			ps.add(path+".level", "%q is not a level: use read, write or all", s.Level)
		}
	}
}

// validateScopeName reports whether name may be a catalogue scope.
func validateScopeName(ps *problems, path, name string) bool {
	switch {
	case name == "":
		ps.add(path, "is required")
	case !isScopeToken(name):
		ps.add(path, "%q is not a valid scope: use printable ASCII characters other than space, '\"' and '\\' (an RFC 6749 scope-token)", name)
	case slices.Contains(reservedScopes, name):
		ps.add(path, "%q is reserved: the authorization server manages openid and offline_access itself", name)
	default:
		return true
	}
	return false
}

func validateScopeServer(ps *problems, path, server string, servers []string) {
	switch {
	case server == "":
		ps.add(path, `is required: the name of a configured server, or "*" for every server`)
	case server == ScopeServerAll || slices.Contains(servers, server):
	default:
		ps.add(path, "no server named %q: use the name of one of servers[] or \"*\"%s", server, didYouMean(server, servers))
	}
}

// isScopeToken reports whether s is an RFC 6749 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}

// didYouMean returns `: did you mean "x"?` for the candidate closest to
// word when it is at most two edits away, or "".
func didYouMean(word string, candidates []string) string {
	if len(word) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(word), c); d < bestDist && d < len(c) {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return ": did you mean " + strconv.Quote(best) + "?"
}
