package websession_test

import (
	"context"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"os"

	"github.com/mcpgate/mcpgate/authn/websession"
)

// A page of the gateway behind web sign-in: the employee signs in at the
// IdP, the page names them and posts a form carrying the CSRF token.
func ExampleManager() {
	m, err := websession.New(context.Background(), websession.Options{
		Issuer:   "https://login.example.com",
		ClientID: "mcpgate-web",
		ClientSecret: func() (string, error) {
			b, err := os.ReadFile("/var/run/secrets/web/client-secret")
			return string(b), err
		},
		BaseURL: "https://mcp.example.com",
		Keys:    [][]byte{make([]byte, 32)}, // from web_sign_in.cookie_key_file
	})
	if err != nil {
		log.Fatal(err)
	}
	page := template.Must(template.New("").Parse(`<p>Signed in as {{.Email}}</p>
<form method="post" action="/signout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button>Sign out</button></form>`))
	mux := http.NewServeMux()
	for _, p := range m.Paths() {
		mux.Handle(p, m.Handler())
	}
	mux.Handle("GET /connections", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := websession.FromContext(r.Context())
		page.Execute(w, struct{ Email, CSRF string }{id.Email, m.CSRFToken(r)})
	})))
	fmt.Println(m.Paths())
	// Output: [/signin /signin/callback /signout]
}
