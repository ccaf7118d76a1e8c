package gateway

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// catalog is the aggregated, namespaced set of features of every upstream
// that currently has features. It is immutable once built and replaced as a
// whole when an upstream changes.
type catalog struct {
	revision  uint64
	tools     map[string]*toolEntry
	prompts   map[string]*promptEntry
	resources map[string]*resourceEntry
	templates map[string]*templateEntry
	// collisions describes every feature left out because an earlier
	// upstream (in config order) already uses its name or URI.
	collisions []string
	// absent maps the name prefix of every upstream without features to the
	// upstream, so a call to one of its tools can name the server.
	absent map[string]*upstream
	// listed holds each kind's entries as the list phase has them.
	listed struct{ tools, prompts, resources, templates listed }
	// resourceKeys maps each resourceKey to the URIs of the resources
	// that have it.
	resourceKeys map[string][]string
}

func buildCatalog(rev uint64, ups []*upstream, n namer) *catalog {
	c := &catalog{
		revision:  rev,
		tools:     make(map[string]*toolEntry),
		prompts:   make(map[string]*promptEntry),
		resources: make(map[string]*resourceEntry),
		templates: make(map[string]*templateEntry),
		absent:    make(map[string]*upstream),
	}
	for _, u := range ups {
		f := u.currentFeatures()
		if f == nil {
			if u.prefix != "" {
				c.absent[u.prefix+n.sep] = u
			}
			continue
		}
		c.add(u, f)
	}
	c.resourceKeys = make(map[string][]string, len(c.resources))
	for uri := range c.resources {
		k := resourceKey(uri, true)
		c.resourceKeys[k] = append(c.resourceKeys[k], uri)
	}
	return c
}

func (c *catalog) add(u *upstream, f *features) {
	for _, e := range f.tools {
		addEntry(c, c.tools, "tool", e.tool.Name, e, u, func(e *toolEntry) (*upstream, bool) { return e.up, e.pin.quarantined })
	}
	for _, e := range f.prompts {
		addEntry(c, c.prompts, "prompt", e.prompt.Name, e, u, func(e *promptEntry) (*upstream, bool) { return e.up, e.pin.quarantined })
	}
	for _, e := range f.resources {
		addEntry(c, c.resources, "resource", e.resource.URI, e, u, func(e *resourceEntry) (*upstream, bool) { return e.up, e.pin.quarantined })
	}
	for _, e := range f.templates {
		addEntry(c, c.templates, "resource template", e.template.URITemplate, e, u, func(e *templateEntry) (*upstream, bool) { return e.up, e.pin.quarantined })
	}
}

// addEntry adds e of upstream u under key, unless an earlier upstream (in
// config order) already has key: then one is left out, and the collision
// noted. An entry that awaits approval never takes a name or URI from one
// that does not: a server cannot shadow another's approved tool or
// resource with one nobody approved.
func addEntry[E any](c *catalog, m map[string]E, kind, key string, e E, u *upstream, of func(E) (*upstream, bool)) {
	prev, ok := m[key]
	if !ok {
		m[key] = e
		return
	}
	prevUp, prevQuarantined := of(prev)
	if _, quarantined := of(e); prevQuarantined && !quarantined {
		m[key] = e
		c.collide(kind, key, prevUp, u)
		return
	}
	c.collide(kind, key, u, prevUp)
}

// collide notes that kind name of server u is left out for that of kept.
func (c *catalog) collide(kind, name string, u, kept *upstream) {
	c.collisions = append(c.collisions, fmt.Sprintf(
		"%s %q of server %q is left out: server %q already provides it (listed earlier in the config, or approved where the other awaits approval); give one of them a distinct prefix",
		kind, name, u.cfg.Name, kept.cfg.Name))
}

// absentServer returns the upstream whose prefix name carries, when that
// upstream currently has no features.
func (c *catalog) absentServer(name string) *upstream {
	u, _ := c.absentTarget(name)
	return u
}

// absentTarget is absentServer with the rest of name: the upstream's own
// name for the target, as far as it can be told (a shortened name keeps its
// hash).
func (c *catalog) absentTarget(name string) (*upstream, string) {
	for p, u := range c.absent {
		if rest, ok := strings.CutPrefix(name, p); ok {
			return u, rest
		}
	}
	return nil, ""
}

// The catalog resolves targets among every feature (targets).

func (c *catalog) tool(name string) *toolEntry           { return c.tools[name] }
func (c *catalog) prompt(name string) *promptEntry       { return c.prompts[name] }
func (c *catalog) resource(uri string) *resourceEntry    { return c.resources[uri] }
func (c *catalog) templateByURI(t string) *templateEntry { return c.templates[t] }
func (c *catalog) template(uri string) *templateEntry    { return firstMatch(c.templates, uri) }

// firstMatch returns the template matching uri that the SDK would dispatch
// to: the first in order of URI template.
func firstMatch(templates map[string]*templateEntry, uri string) *templateEntry {
	var best *templateEntry
	for k, e := range templates {
		if e.match.MatchString(uri) && (best == nil || k < best.template.URITemplate) {
			best = e
		}
	}
	return best
}

// resourcesNamed is the URIs of the catalog's resources that uri names in
// some spelling (resourceKey), with or without a query added: uri itself if
// it is one.
func (c *catalog) resourcesNamed(uri string) []string {
	named := c.resourceKeys[resourceKey(uri, true)]
	if k := resourceKey(uri, false); k != resourceKey(uri, true) {
		named = append(slices.Clip(named), c.resourceKeys[k]...)
	}
	return named
}

// resourceKey is uri in a form where the spellings a server may resolve
// to one resource meet: the fragment dropped, the query too unless
// withQuery (and its parameters sorted), every valid percent-encoding
// decoded (repeatedly, so double encoding too, an invalid one kept as a
// lenient decoder keeps it), all in lower case (file systems that ignore
// case), backslashes taken as slashes, and the authority and path taken as
// one path without dot segments, repeated or trailing slashes, or the
// trailing dots and spaces and "::$data" that Windows ignores in a name.
// It is broader than RFC 3986 equivalence on purpose: it only decides that
// a template does not stand in for a resource the caller is not shown; it
// is never sent.
func resourceKey(uri string, withQuery bool) string {
	uri, _, _ = strings.Cut(uri, "#")
	uri, query, hasQuery := strings.Cut(uri, "?")
	scheme, rest := "", uri
	if i := strings.IndexByte(uri, ':'); i > 0 && isScheme(uri[:i]) {
		scheme, rest = uri[:i], uri[i+1:]
	}
	authority := ""
	if r, ok := strings.CutPrefix(rest, "//"); ok {
		i := strings.IndexByte(r, '/')
		if i < 0 {
			i = len(r)
		}
		authority, rest = r[:i], r[i:]
	}
	p := strings.ReplaceAll(strings.ToLower(unescapeAll("/"+authority+"/"+rest)), `\`, "/")
	segments := strings.Split(path.Clean(p), "/")
	for i, s := range segments {
		segments[i] = strings.TrimRight(strings.TrimSuffix(s, "::$data"), ". ")
	}
	key := strings.ToLower(scheme) + ":" + path.Clean(strings.Join(segments, "/"))
	if withQuery && hasQuery {
		params := strings.Split(strings.ToLower(unescapeAll(query)), "&")
		slices.Sort(params)
		key += "?" + strings.Join(params, "&")
	}
	return key
}

func isScheme(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// unescapeAll decodes the valid percent-encodings of s until none is left
// (a few rounds at most), keeping an invalid one as it is.
func unescapeAll(s string) string {
	for range 4 {
		d := unescapeLenient(s)
		if d == s {
			break
		}
		s = d
	}
	return s
}

func unescapeLenient(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
