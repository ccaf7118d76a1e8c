package devidp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/internal/webpage"
)

// signInPage lists the demo users as buttons of one form that re-posts the
// authorization request. html/template escapes every value.
var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>mcpgate dev sign-in</title>
<style>body{font-family:system-ui,sans-serif;max-width:38rem;margin:3rem auto;padding:0 1rem;color:#222}
.warn{background:#fff3cd;border:1px solid #d4a300;padding:.75rem;border-radius:.4rem}
button{display:block;width:100%;margin:.4rem 0;padding:.7rem;font-size:1rem;text-align:left;cursor:pointer}
code{word-break:break-all}</style></head>
<body>
<h1>mcpgate dev sign-in — pick a demo user</h1>
<p class="warn"><strong>Insecure development identity provider.</strong> No passwords, loopback only, keys in memory. Never use it in production.</p>
<p><strong>{{.ClientName}}</strong> (client <code>{{.ClientID}}</code>) asks for access to <code>{{.Audience}}</code>{{with .Scope}} with scope <code>{{.}}</code>{{end}}. You will be sent back to <code>{{.RedirectURI}}</code>.</p>
<form method="post" action="authorize">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}{{range .Users}}<button type="submit" name="user" value="{{.Name}}">{{.Name}} — {{.Groups}}</button>
{{end}}<button type="submit" name="cancel" value="1">Cancel</button>
</form>
</body></html>
`))

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mcpgate dev sign-in: {{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

type field struct{ Name, Value string }

type userButton struct{ Name, Groups string }

type signInView struct {
	ClientName, ClientID, Audience, Scope, RedirectURI string
	Hidden                                             []field
	Users                                              []userButton
}

func (p *Provider) renderSignIn(w http.ResponseWriter, req *authzRequest) {
	view := signInView{
		ClientName:  req.client.ClientName,
		ClientID:    req.client.id,
		Audience:    p.audience,
		Scope:       strings.Join(req.granted, " "),
		RedirectURI: req.redirectURI,
	}
	if view.ClientName == "" {
		view.ClientName = "An unnamed client"
	}
	for _, k := range slices.Sorted(maps.Keys(req.raw)) {
		view.Hidden = append(view.Hidden, field{k, req.raw.Get(k)})
	}
	view.Hidden = append(view.Hidden, field{"csrf_token", p.csrfToken(req.raw, p.now().Add(csrfTTL))})
	for _, u := range p.users {
		groups := "no groups"
		if len(u.Groups) > 0 {
			groups = "groups: " + strings.Join(u.Groups, ", ")
		}
		view.Users = append(view.Users, userButton{u.Name, groups})
	}
	renderHTML(w, http.StatusOK, signInPage, view)
}

func renderError(w http.ResponseWriter, status int, title, message string) {
	renderHTML(w, status, errorPage, struct{ Title, Message string }{title, message})
}

// renderHTML writes a page that may not be framed, cached or given scripts.
func renderHTML(w http.ResponseWriter, status int, t *template.Template, data any) {
	webpage.Render(w, status, t, data)
}

// csrfToken binds the sign-in form to its authorization request: it is the
// expiry and a random nonce followed by an HMAC, under a per-process key, of
// both and the request's parameters. A page on another site cannot read
// it, and it is good for one form post (checkCSRF spends it).
func (p *Provider) csrfToken(params url.Values, expires time.Time) string {
	head := make([]byte, csrfHeadLen)
	binary.BigEndian.PutUint64(head[:8], uint64(expires.Unix()))
	rand.Read(head[8:])
	return base64.RawURLEncoding.EncodeToString(append(head, p.csrfMAC(head, params)...))
}

// csrfHeadLen is the expiry (8 bytes) and the nonce (16) of a CSRF token.
const csrfHeadLen = 8 + 16

// checkCSRF reports whether token is a valid, unexpired token for params
// that has not been used, and spends it.
func (p *Provider) checkCSRF(params url.Values, token string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != csrfHeadLen+sha256.Size {
		return false
	}
	expires := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)
	if !p.now().Before(expires) || !hmac.Equal(raw[csrfHeadLen:], p.csrfMAC(raw[:csrfHeadLen], params)) {
		return false
	}
	return p.spentCSRF.spend(string(raw[8:csrfHeadLen]), expires, p.now())
}

func (p *Provider) csrfMAC(head []byte, params url.Values) []byte {
	mac := hmac.New(sha256.New, p.csrfKey)
	mac.Write(head)
	mac.Write([]byte(params.Encode()))
	return mac.Sum(nil)
}

// spentSet remembers the nonces of spent CSRF tokens until they expire.
type spentSet struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// spend marks nonce spent until expires and reports whether it was not
// spent before. Expired entries are dropped as it goes; the set is bounded
// like the provider's other stores (a full set refuses, failing closed).
func (s *spentSet) spend(nonce string, expires, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.until == nil {
		s.until = map[string]time.Time{}
	}
	if _, spent := s.until[nonce]; spent {
		return false
	}
	if len(s.until) >= maxSpentCSRF {
		for n, t := range s.until {
			if !now.Before(t) {
				delete(s.until, n)
			}
		}
		if len(s.until) >= maxSpentCSRF {
			return false
		}
	}
	s.until[nonce] = expires
	return true
}
