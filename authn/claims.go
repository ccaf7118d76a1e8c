package authn

import (
	"errors"
	"fmt"
	"strings"
)

// ClaimMapping says where an issuer puts the claims that make an Identity.
// A path is a claim name, or a dot-separated path into nested objects
// ("realm_access.roles" for Keycloak). A claim whose name itself contains
// dots (e.g. "https://example.com/groups") is found too: the whole path is
// tried as a top-level name first.
type ClaimMapping struct {
	// Subject: if empty, "sub".
	Subject string
	// Email: if empty, "email".
	Email string
	// Name: if empty, "name".
	Name string
	// Groups: if empty, "groups". "roles" suits Entra ID,
	// "realm_access.roles" Keycloak.
	Groups string
	// ClientID: if empty, "azp", then "client_id".
	ClientID string
	// Scopes: if empty, "scope", then "scp". A string value is split on
	// spaces; an array of strings is taken as is.
	Scopes string
}

// claimPath is one prepared path: the literal name and its dot-split form.
type claimPath struct {
	name  string
	parts []string
}

// claimPaths is a ClaimMapping prepared once per issuer. Each field lists
// the paths to try in order; the first claim present wins.
type claimPaths struct {
	subject, email, name, groups, clientID, scopes []claimPath
}

func compileClaims(m ClaimMapping) (claimPaths, []error) {
	var errs []error
	field := func(key, path string, defaults ...string) []claimPath {
		if path == "" {
			return pathsOf(defaults...)
		}
		if err := checkClaimPath(path); err != nil {
			errs = append(errs, fmt.Errorf("claims.%s: %w", key, err))
		}
		return pathsOf(path)
	}
	p := claimPaths{
		subject:  field("subject", m.Subject, "sub"),
		email:    field("email", m.Email, "email"),
		name:     field("name", m.Name, "name"),
		groups:   field("groups", m.Groups, "groups"),
		clientID: field("client_id", m.ClientID, "azp", "client_id"),
		scopes:   field("scopes", m.Scopes, "scope", "scp"),
	}
	return p, errs
}

func pathsOf(names ...string) []claimPath {
	out := make([]claimPath, len(names))
	for i, n := range names {
		out[i] = claimPath{name: n, parts: strings.Split(n, ".")}
	}
	return out
}

func checkClaimPath(path string) error {
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			return fmt.Errorf("%q has an empty segment: use names separated by single dots", path)
		}
	}
	return nil
}

// lookup returns the first of paths present in claims.
func lookup(claims map[string]any, paths []claimPath) (any, bool) {
	for _, p := range paths {
		if v, ok := claims[p.name]; ok {
			return v, true
		}
		if v, ok := lookupNested(claims, p.parts); ok {
			return v, true
		}
	}
	return nil, false
}

func lookupNested(claims map[string]any, parts []string) (any, bool) {
	if len(parts) < 2 {
		return nil, false
	}
	var cur any = claims
	for _, part := range parts {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func stringClaim(claims map[string]any, paths []claimPath) string {
	v, _ := lookup(claims, paths)
	s, _ := v.(string)
	return s
}

// listClaim reads a string or an array of strings; split says whether a
// string holds several space-separated values (scopes) or one (a group).
// Anything else, including an array with a non-string element, is no list.
func listClaim(claims map[string]any, paths []claimPath, split bool) []string {
	v, _ := lookup(claims, paths)
	switch v := v.(type) {
	case string:
		if split {
			return strings.Fields(v)
		}
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}

// identity builds the Identity from verified claims.
func (p *claimPaths) identity(claims map[string]any) *Identity {
	return &Identity{
		Subject:  stringClaim(claims, p.subject),
		Email:    stringClaim(claims, p.email),
		Name:     stringClaim(claims, p.name),
		Groups:   listClaim(claims, p.groups, false),
		Scopes:   listClaim(claims, p.scopes, true),
		ClientID: stringClaim(claims, p.clientID),
		Claims:   claims,
	}
}

// IdentityFromClaims maps verified claims, such as those of an ID token the
// authorization-server mode received from the corporate IdP, to an
// Identity with m (defaults applied as for an issuer). Issuer, Audience and
// Expiry are left to the caller. It fails if m is invalid or the subject
// claim is missing.
func IdentityFromClaims(m ClaimMapping, claims map[string]any) (*Identity, error) {
	paths, errs := compileClaims(m)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	id := paths.identity(claims)
	if id.Subject == "" {
		return nil, fmt.Errorf("claims have no subject (%s)", claimNames(paths.subject))
	}
	return id, nil
}

func claimNames(paths []claimPath) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}
