package gateway

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"golang.org/x/text/unicode/norm"
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
	// resourceKeys holds the resources under their resourceKey.
	resourceKeys map[string][]resourceRef
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
	c.resourceKeys = make(map[string][]resourceRef, len(c.resources))
	for uri := range c.resources {
		k, q := resourceKey(uri)
		c.resourceKeys[k] = append(c.resourceKeys[k], resourceRef{uri, q})
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
// some spelling (resourceKey): the same key, and a query holding the
// resource's own parameters (with the first value of each, as a server's
// Get reads them), extra ones and reorderings included; uri itself if it
// is one.
func (c *catalog) resourcesNamed(uri string) []string {
	key, query := resourceKey(uri)
	var named []string
	for _, r := range c.resourceKeys[key] {
		if queryHolds(query, r.query) {
			named = append(named, r.uri)
		}
	}
	return named
}

// resourceRef is a resource of the catalog under its resourceKey.
type resourceRef struct {
	uri   string
	query url.Values
}

// queryHolds reports whether the query q has every parameter of want with
// the same first value.
func queryHolds(q, want url.Values) bool {
	for k := range want {
		if q.Get(k) != want.Get(k) {
			return false
		}
	}
	return true
}

// resourceKey is uri, without its query and fragment, in a form where the
// spellings a server may resolve to one resource meet, and its query as a
// server parses it. It is broader than RFC 3986 equivalence on purpose: it
// only decides that a template does not stand in for a resource the
// caller is not shown; it is never sent. It takes:
//   - every valid percent-encoding decoded, repeatedly (double encoding),
//     an invalid one kept as a lenient decoder keeps it;
//   - case folded and Unicode composed (NFC), as file systems that ignore
//     case compare names;
//   - the authority without user information or port, and none for file:
//     (a server reads the path: file://localhost/x is file:///x);
//   - backslashes as slashes, and the path without dot segments or
//     repeated or trailing slashes;
//   - each name without what servers and Windows ignore after it: ";"
//     parameters, "::$DATA" and other streams, trailing dots and spaces;
//   - the query's parameters decoded and folded alike.
func resourceKey(uri string) (key string, query url.Values) {
	uri, _, _ = strings.Cut(uri, "#")
	uri, rawQuery, _ := strings.Cut(uri, "?")
	scheme, rest := "", uri
	if i := strings.IndexByte(uri, ':'); i > 0 && isScheme(uri[:i]) {
		scheme, rest = strings.ToLower(uri[:i]), uri[i+1:]
	}
	authority := ""
	if r, ok := strings.CutPrefix(rest, "//"); ok {
		i := strings.IndexAny(r, "/\\")
		if i < 0 {
			i = len(r)
		}
		authority, rest = host(r[:i]), r[i:]
	}
	if scheme == "file" {
		authority = ""
	}
	p := strings.ReplaceAll(fold(unescapeAll("/"+authority+"/"+rest)), `\`, "/")
	segments := strings.Split(path.Clean(p), "/")
	for i, s := range segments {
		segments[i] = bareName(s)
	}
	query, _ = url.ParseQuery(rawQuery) // what parses: a server reads that much
	folded := make(url.Values, len(query))
	for k, vs := range query {
		k = fold(unescapeAll(k))
		for _, v := range vs {
			folded[k] = append(folded[k], fold(unescapeAll(v)))
		}
	}
	return scheme + ":" + path.Clean(strings.Join(segments, "/")), folded
}

// host is an authority without its user information and port.
func host(authority string) string {
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	if strings.HasPrefix(authority, "[") { // an IPv6 literal
		if i := strings.IndexByte(authority, ']'); i >= 0 {
			return authority[:i+1]
		}
		return authority
	}
	h, _, _ := strings.Cut(authority, ":")
	return h
}

// fold is s case-folded and composed (NFC).
func fold(s string) string {
	return norm.NFC.String(strings.ToLower(strings.ToUpper(s)))
}

// bareName is a path segment without what servers and Windows ignore
// after a name: ";" parameters, an alternate data stream ("::$DATA",
// ":$I30"), trailing dots and spaces, in any order.
func bareName(s string) string {
	for {
		t, _, _ := strings.Cut(s, ";")
		if i := strings.Index(t, ":"); i > 0 && (strings.HasPrefix(t[i:], "::") || strings.HasPrefix(t[i:], ":$")) {
			t = t[:i]
		}
		t = strings.TrimRight(t, ". ")
		if t == s {
			return s
		}
		s = t
	}
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
