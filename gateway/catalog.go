package gateway

import (
	"fmt"
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
	return c
}

func (c *catalog) add(u *upstream, f *features) {
	for _, e := range f.tools {
		if prev, ok := c.tools[e.tool.Name]; ok {
			c.collide("tool", e.tool.Name, u, prev.up)
			continue
		}
		c.tools[e.tool.Name] = e
	}
	for _, e := range f.prompts {
		if prev, ok := c.prompts[e.prompt.Name]; ok {
			c.collide("prompt", e.prompt.Name, u, prev.up)
			continue
		}
		c.prompts[e.prompt.Name] = e
	}
	for _, e := range f.resources {
		if prev, ok := c.resources[e.resource.URI]; ok {
			c.collide("resource", e.resource.URI, u, prev.up)
			continue
		}
		c.resources[e.resource.URI] = e
	}
	for _, e := range f.templates {
		if prev, ok := c.templates[e.template.URITemplate]; ok {
			c.collide("resource template", e.template.URITemplate, u, prev.up)
			continue
		}
		c.templates[e.template.URITemplate] = e
	}
}

func (c *catalog) collide(kind, name string, u, prev *upstream) {
	c.collisions = append(c.collisions, fmt.Sprintf(
		"%s %q of server %q is left out: server %q (listed earlier in the config) already provides it; give one of them a distinct prefix",
		kind, name, u.cfg.Name, prev.cfg.Name))
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
