package config

import (
	"errors"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// UpstreamScope is an entry of an upstream's scope catalogue
// (servers[].auth.scopes): a scope of the upstream's own authorization
// server, and the level of the upstream's tools it covers. The scopes the
// gateway asks for are decided by policy (data.mcpgate.authz.upstream_scopes)
// among these, never others. A plain string is the entry {name: STRING}.
type UpstreamScope struct {
	// Name is the scope as the upstream's authorization server spells it:
	// an RFC 6749 scope-token. Required; unique in the catalogue.
	Name string `yaml:"name"`

	// Level is "read", "write" or "all" (rego/readonly.rego's tool
	// levels): what of the upstream the scope covers. If omitted, defaults
	// to "all". Use [UpstreamScope.EffectiveLevel].
	Level string `yaml:"level,omitempty"`

	// Description says what the scope allows, for policy reasons and
	// pages. If omitted, none.
	Description string `yaml:"description,omitempty"`
}

// EffectiveLevel returns the scope's level: Level, or "all" when empty.
func (s *UpstreamScope) EffectiveLevel() string {
	if s.Level == "" {
		return ScopeLevelAll
	}
	return s.Level
}

// UnmarshalYAML accepts a scope name alone, or the mapping of the fields.
func (s *UpstreamScope) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() != strTag {
			return errors.New("must be a scope name or a mapping with name, level and description")
		}
		*s = UpstreamScope{Name: n.Value}
		return nil
	case yaml.MappingNode:
		return s.decodeFields(n)
	}
	return errors.New("must be a scope name or a mapping with name, level and description")
}

func (s *UpstreamScope) decodeFields(n *yaml.Node) error {
	*s = UpstreamScope{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *string
		switch k.Value {
		case "name":
			dst = &s.Name
		case "level":
			dst = &s.Level
		case "description":
			dst = &s.Description
		default:
			return fmt.Errorf("unknown key %q: use name, level and description", k.Value)
		}
		if seen[k.Value] {
			return fmt.Errorf("key %q appears twice", k.Value)
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode || v.ShortTag() != strTag {
			return fmt.Errorf("%s: must be a string", k.Value)
		}
		*dst = v.Value
	}
	return nil
}

// ScopeNames returns the names of the upstream scope catalogue, in order.
func (a *UpstreamAuth) ScopeNames() []string {
	out := make([]string, len(a.Scopes))
	for i := range a.Scopes {
		out[i] = a.Scopes[i].Name
	}
	return out
}

// validateUpstreamScopes checks the upstream scope catalogue at path.
func validateUpstreamScopes(ps *problems, path string, scopes []UpstreamScope) {
	names := map[string]int{}
	for i := range scopes {
		s := &scopes[i]
		p := path + "[" + strconv.Itoa(i) + "]"
		switch {
		case s.Name == "":
			ps.add(p+".name", "is required")
		case !isScopeToken(s.Name):
			ps.add(p+".name", "%q is not a valid scope: use printable ASCII without spaces, '\"' or '\\'", s.Name)
		default:
			checkUnique(ps, names, s.Name, i, p+".name", "upstream scope names must be unique")
		}
		switch s.Level {
		case "", ScopeLevelRead, ScopeLevelWrite, ScopeLevelAll:
		default:
			ps.add(p+".level", "%q is not a level: use read, write or all", s.Level)
		}
		if hasControlChars(s.Description) {
			ps.add(p+".description", "%s", errControlChars)
		}
	}
}
