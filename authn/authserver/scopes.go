package authserver

import (
	"slices"
	"strings"
)

// parseScope splits an RFC 6749 §3.3 scope parameter; ok is false if a
// scope-token has characters outside %x21 / %x23-5B / %x5D-7E.
func parseScope(s string) (scopes []string, ok bool) {
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, false
			}
		}
		if !slices.Contains(scopes, tok) {
			scopes = append(scopes, tok)
		}
	}
	return scopes, true
}

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }

// within returns the scopes of granted that are also in requested and in
// the catalogue, in requested's order: a grant is never more than asked
// for nor more than the catalogue, whatever the policy said.
func (s *Server) within(granted, requested []string) []string {
	out := []string{}
	for _, r := range requested {
		if _, known := s.catalog[r]; known && slices.Contains(granted, r) {
			out = append(out, r)
		}
	}
	return out
}

// union returns a's scopes followed by those of b it lacks.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// subset reports whether every scope of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
