package authserver

import (
	"crypto/subtle"
	"html/template"
	"net/http"
	"slices"

	"github.com/mcpgate/mcpgate/internal/webpage"
)

// scopeView is a scope as a page shows it.
type scopeView struct {
	Name, Description string
	New               bool // not consented before
}

// describe returns the catalogue's descriptions of scopes, marking those
// not in before.
func (s *Server) describe(scopes, before []string) []scopeView {
	out := make([]scopeView, 0, len(scopes))
	for _, sc := range scopes {
		out = append(out, scopeView{Name: sc, Description: s.catalog[sc].Description, New: before != nil && !slices.Contains(before, sc)})
	}
	return out
}

const pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}} — mcpgate</title><style>
body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem} .box{border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}
.muted{color:#57606a;font-size:.9rem} code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}
button{font:inherit;padding:.5rem 1.2rem;border-radius:6px;border:1px solid #d0d7de;background:#f6f8fa;cursor:pointer;margin-right:.5rem}
button.primary{background:#1f6feb;color:#fff;border-color:#1f6feb} li{margin:.3rem 0} .new{color:#9a6700;font-size:.85rem}
</style></head><body>`

var consentPage = template.Must(template.New("consent").Parse(pageHead + `
<h1>Allow {{.ClientName}} to use your tools?</h1>
<div class="box">
<p><strong>{{.ClientName}}</strong> asks to act as <strong>{{.User}}</strong> through your organisation's MCP gateway.</p>
<p class="muted">{{.Provenance}}</p>
<p class="muted">After you answer, you are sent back to <code>{{.RedirectHost}}</code>. Allow only if you started this from an application you trust and it runs there.</p>
{{if .Granted}}<p>It will be allowed:</p><ul>{{range .Granted}}<li><code>{{.Name}}</code>{{if .Description}} — {{.Description}}{{end}}{{if .New}} <span class="new">new</span>{{end}}</li>{{end}}</ul>{{else}}<p>It asked for no scope.</p>{{end}}
{{if .Refused}}<p class="muted">Asked for, but not allowed by your organisation's policy: {{range $i, $s := .Refused}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}</p>{{end}}
</div>
<form method="post" action="{{.Action}}">
<input type="hidden" name="consent" value="{{.ID}}">
<button class="primary" type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
<p class="muted">You can see and revoke what you allowed at <a href="{{.GrantsURL}}">your grants</a>.</p>
</body></html>`))

var grantsPage = template.Must(template.New("grants").Parse(pageHead + `
<h1>Applications you allowed</h1>
<p class="muted">Signed in as {{.User}}.{{if .Revoked}} Revoked: the application's tokens stop working within minutes.{{end}}</p>
{{range .Grants}}<div class="box"><p><strong>{{.ClientName}}</strong> <span class="muted">returns to <code>{{.RedirectHost}}</code>, allowed {{.GrantedAt.Format "2006-01-02"}}</span></p>
<ul>{{range .Scopes}}<li><code>{{.Name}}</code>{{if .Description}} — {{.Description}}{{end}}</li>{{end}}</ul>
<form method="post"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="client_id" value="{{.ClientID}}"><button type="submit">Revoke</button></form></div>
{{else}}<p>None.</p>{{end}}
</body></html>`))

var errorPageTmpl = template.Must(template.New("error").Parse(pageHead + `
<h1>{{.Title}}</h1><div class="box"><p>{{.Message}}</p></div></body></html>`))

func (s *Server) renderConsent(w http.ResponseWriter, id string, cr *consentRequest, before []string) {
	var refused []string
	for _, sc := range cr.Params.Scopes {
		if !slices.Contains(cr.Granted, sc) {
			refused = append(refused, sc)
		}
	}
	s.render(w, http.StatusOK, consentPage, map[string]any{
		"Title": "Allow " + cr.Params.ClientName, "ClientName": cr.Params.ClientName, "User": displayName(cr.Subject),
		"RedirectHost": redirectHost(cr.Params.RedirectURI), "Granted": s.describe(cr.Granted, before), "Refused": refused,
		"Provenance": provenance(&cr.Params),
		"Action":     s.opts.Issuer + PathConsent, "ID": id, "GrantsURL": s.opts.Issuer + PathGrants,
	})
}

func (s *Server) renderGrants(w http.ResponseWriter, bs *browserSession, grants []grantView, revoked string) {
	s.render(w, http.StatusOK, grantsPage, map[string]any{"Title": "Your grants", "User": displayName(bs.Subject),
		"Grants": grants, "CSRF": bs.CSRF, "Revoked": revoked != ""})
}

func (s *Server) errorPage(w http.ResponseWriter, status int, title, message string) {
	s.render(w, status, errorPageTmpl, map[string]any{"Title": title, "Message": message})
}

// render writes an HTML page that no other site may frame and that runs
// no script. The policy has no form-action: Chromium and Safari apply it
// to the redirects that follow a form post, and the consent form's post
// ends in a redirect to the client (whose https redirect URI may itself
// redirect to an app's scheme). The referrer policy is same-origin, not
// no-referrer, which makes browsers send "Origin: null" with the form
// posts, refused by the cross-origin protection where Sec-Fetch-Site is
// not sent.
func (s *Server) render(w http.ResponseWriter, status int, t *template.Template, data any) {
	if err := webpage.Render(w, status, t, data); err != nil {
		s.log.Error("authserver: render page", "page", t.Name(), "err", err)
	}
}

func displayName(sub Subject) string {
	switch {
	case sub.Email != "":
		return sub.Email
	case sub.Name != "":
		return sub.Name
	}
	return sub.Sub
}

func constantEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// provenance says who vouches for a client's name on the consent page:
// the organisation, the host of its metadata document, or nobody (a
// self-registered client names itself).
func provenance(p *authzParams) string {
	switch p.Kind {
	case kindStatic:
		return "This application was registered by your organisation."
	case kindMetadataDocument:
		return "This application is identified by " + p.Origin + ", which publishes its description; its name is its own claim."
	}
	return "This application registered itself: its name is its own claim and was not verified. Check where it sends you back."
}
