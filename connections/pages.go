package connections

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

// Handler serves the connect link (PathStart), the OAuth callback
// (PathCallback) and the connections page (PathConnections, revoking with
// a POST to PathRevoke). Mount it on the gateway's mux at those paths,
// behind web sign-in (Options.Identity reads who is signed in).
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathStart, m.start)
	mux.HandleFunc("GET "+PathCallback+"/{upstream}", m.callback)
	mux.HandleFunc("GET "+PathConnections, m.connections)
	mux.HandleFunc("POST "+PathRevoke, m.revoke)
	mux.HandleFunc("GET "+PathClientMetadata+"/{document}", m.serveClientMetadata)
	return securityHeaders(mux)
}

// Paths lists the pages Handler serves for signed-in employees; mount them
// behind web sign-in. PublicPaths lists what it serves to anyone (the
// client metadata document authorization servers fetch).
func (m *Manager) Paths() []string {
	return []string{PathStart, PathCallback + "/", PathConnections, PathRevoke}
}

// PublicPaths lists the paths of Handler that need no sign-in.
func (m *Manager) PublicPaths() []string { return []string{PathClientMetadata + "/"} }

func (m *Manager) serveClientMetadata(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("document"), ".json")
	u, known := m.upstreams[name]
	if !ok || !known {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_ = json.NewEncoder(w).Encode(m.clientMetadata(u))
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, PathClientMetadata+"/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · mcpgate</title>
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}
button{padding:.3rem .8rem}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{if .Connections}}<table><tr><th>Server</th><th>Scopes</th><th>Connected</th><th></th></tr>
{{range .Connections}}<tr><td>{{.Upstream}}</td>{{if .Unreadable}}<td colspan="2">can no longer be read: disconnect, then connect again</td>{{else}}<td>{{range $i, $s := .Scopes}}{{if $i}} {{end}}{{$s}}{{end}}</td>
<td>{{.Connected.Format "2006-01-02 15:04 MST"}}</td>{{end}}
<td><form method="post" action="{{$.RevokePath}}"><input type="hidden" name="csrf" value="{{$.CSRF}}">
<input type="hidden" name="upstream" value="{{.Upstream}}"><button type="submit">Disconnect</button></form></td></tr>{{end}}
</table>{{end}}
</body></html>
`))

type pageData struct {
	Title, Message string
	Connections    []Connection
	RevokePath     string
	CSRF           string
}

// page writes a page with status; its texts are escaped by the template.
func (m *Manager) page(w http.ResponseWriter, status int, title, message string) {
	m.render(w, status, pageData{Title: title, Message: message})
}

func (m *Manager) render(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, d)
}

// connections lists the signed-in employee's connections.
func (m *Manager) connections(w http.ResponseWriter, r *http.Request) {
	id, ok := m.opts.Identity(r)
	if !ok {
		m.page(w, http.StatusUnauthorized, "Sign in first", "Sign in to the gateway in this browser to see your connections.")
		return
	}
	conns, err := m.Connections(r.Context(), id)
	if err != nil {
		m.log.Error("connections: listing connections", "err", err)
		m.page(w, http.StatusServiceUnavailable, "Try again", "The gateway could not read your connections.")
		return
	}
	d := pageData{Title: "Your connections", Connections: conns, RevokePath: m.base.Path + PathRevoke,
		Message: "The servers you connected through the gateway. Disconnecting deletes the gateway's token and revokes it where the server allows."}
	if len(conns) == 0 {
		d.Message = "You have not connected any server yet. Your MCP client will send you a link when a server needs you to."
	}
	if m.opts.CSRFToken != nil {
		d.CSRF = m.opts.CSRFToken(r)
	}
	m.render(w, http.StatusOK, d)
}

// revoke disconnects the signed-in employee from one upstream.
func (m *Manager) revoke(w http.ResponseWriter, r *http.Request) {
	id, ok := m.opts.Identity(r)
	if !ok {
		m.page(w, http.StatusUnauthorized, "Sign in first", "Sign in to the gateway in this browser.")
		return
	}
	if m.opts.CheckCSRF == nil {
		m.page(w, http.StatusForbidden, "Refused", "This gateway accepts no changes from its pages.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := m.opts.CheckCSRF(r); err != nil {
		m.page(w, http.StatusForbidden, "Refused", "The form was not sent from the gateway's page; reload it and try again.")
		return
	}
	upstream := r.PostFormValue("upstream")
	if !m.Has(upstream) {
		m.page(w, http.StatusBadRequest, "Unknown server", "There is no such server to disconnect.")
		return
	}
	if _, err := m.Revoke(r.Context(), id, upstream); err != nil {
		m.log.Error("connections: revoking", "upstream", upstream, "err", err)
		m.page(w, http.StatusServiceUnavailable, "Try again", "The gateway could not delete the connection.")
		return
	}
	m.log.Info("employee disconnected an upstream", "upstream", upstream, "employee", id.Subject, "issuer", id.Issuer)
	http.Redirect(w, r, m.base.Path+PathConnections, http.StatusSeeOther)
}
