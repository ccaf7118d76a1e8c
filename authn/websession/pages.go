package websession

import (
	"html/template"
	"net/http"

	"github.com/mcpgate/mcpgate/internal/webpage"
)

var pageLayout = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · mcpgate</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto; padding: 0 1em">`

var (
	errorTemplate = template.Must(template.New("error").Parse(pageLayout +
		`<h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>`))
	signedOutPage = template.Must(template.New("signedout").Parse(pageLayout +
		`<h1>Signed out</h1><p>You are signed out of the gateway's pages.</p><p><a href="{{.SignIn}}">Sign in again</a></p></body></html>`))
)

func (m *Manager) errorPage(w http.ResponseWriter, status int, title, message string) {
	m.render(w, status, errorTemplate, struct{ Title, Message string }{title, message})
}

// render writes a page with headers that keep it out of frames and caches.
func (m *Manager) render(w http.ResponseWriter, status int, t *template.Template, data any) {
	if err := webpage.Render(w, status, t, data); err != nil {
		m.log.Error("websession: render page", "err", err)
	}
}
