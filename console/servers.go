package console

import (
	"net/http"
	"slices"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/gateway"
)

type serversContent struct {
	Upstreams  []gateway.UpstreamStatus
	Collisions []string
	Lock       *gateway.LockStatus
}

// servers lists the upstream servers.
func (c *Console) servers(w http.ResponseWriter, r *http.Request, _ *authn.Identity) {
	st := c.opts.Backend.Status()
	c.render(w, r, http.StatusOK, "servers", "Servers", serversContent{Upstreams: st.Upstreams, Collisions: st.Collisions, Lock: st.Lock})
}

type serverContent struct {
	Name   string
	Status *gateway.UpstreamStatus
	Items  []gateway.CatalogItem
	Error  string
}

// server shows one upstream server's catalog with each item's approval.
func (c *Console) server(w http.ResponseWriter, r *http.Request, _ *authn.Identity) {
	name := r.PathValue("name")
	st := c.opts.Backend.Status()
	i := slices.IndexFunc(st.Upstreams, func(u gateway.UpstreamStatus) bool { return u.Name == name })
	if i < 0 {
		c.errorPage(w, r, http.StatusNotFound, "No such server", "The configuration names no server "+name+".", nil)
		return
	}
	content := serverContent{Name: name, Status: &st.Upstreams[i]}
	items, err := c.opts.Backend.ServerCatalog(name)
	if err != nil {
		content.Error = err.Error()
	}
	content.Items = items
	c.render(w, r, http.StatusOK, "server", "Server "+name, content)
}
