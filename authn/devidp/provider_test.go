package devidp

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDemoUsers(t *testing.T) {
	t.Parallel()
	want := map[string]string{"alice": "engineering", "bob": "hr", "carol": "admin", "mallory": ""}
	users := DemoUsers()
	if len(users) != len(want) {
		t.Fatalf("%d demo users, want %d", len(users), len(want))
	}
	for _, u := range users {
		if g := strings.Join(u.Groups, ","); g != want[u.Name] || u.Email != u.Name+"@example.com" {
			t.Errorf("%s: groups %q email %q", u.Name, g, u.Email)
		}
	}
}

// New reports every invalid option, each prefixed by its key.
func TestNewValidation(t *testing.T) {
	t.Parallel()
	ok := Options{Issuer: "http://127.0.0.1:8080/dev/idp", Audience: "http://127.0.0.1:8080/mcp"}
	cases := map[string]struct {
		edit func(*Options)
		want []string
	}{
		"non-loopback issuer": {func(o *Options) { o.Issuer = "http://10.1.2.3:8080/dev/idp" }, []string{"issuer", "loopback"}},
		"public issuer":       {func(o *Options) { o.Issuer = "https://idp.example.com" }, []string{"loopback"}},
		"trailing slash":      {func(o *Options) { o.Issuer += "/" }, []string{"slash"}},
		"issuer query":        {func(o *Options) { o.Issuer += "?x=1" }, []string{"query"}},
		"no issuer":           {func(o *Options) { o.Issuer = "" }, []string{"issuer"}},
		"ftp issuer":          {func(o *Options) { o.Issuer = "ftp://127.0.0.1/x" }, []string{"http or https"}},
		"no audience":         {func(o *Options) { o.Audience = "" }, []string{"audience"}},
		"duplicate users":     {func(o *Options) { o.Users = []User{{Name: "a"}, {Name: "a"}} }, []string{"users[1].name"}},
		"bad scope":           {func(o *Options) { o.Scopes = []string{"a b"} }, []string{"scopes[0]"}},
		"negative ttl":        {func(o *Options) { o.TokenTTL = -time.Second }, []string{"token ttl"}},
		"client without id": {func(o *Options) {
			o.Clients = []StaticClient{{Secret: "s", RedirectURIs: []string{"https://rp.example/cb"}}}
		}, []string{"clients[0].id"}},
		"duplicate client id": {func(o *Options) { o.Clients = []StaticClient{gatewayClient(), gatewayClient()} }, []string{"clients[1].id"}},
		"dev client id":       {func(o *Options) { c := gatewayClient(); c.ID = DevClientID; o.Clients = []StaticClient{c} }, []string{"clients[0].id", DevClientID}},
		"client id control":   {func(o *Options) { c := gatewayClient(); c.ID = "a\nb"; o.Clients = []StaticClient{c} }, []string{"clients[0].id"}},
		"client no secret":    {func(o *Options) { c := gatewayClient(); c.Secret = ""; o.Clients = []StaticClient{c} }, []string{"clients[0].secret"}},
		"client no redirect":  {func(o *Options) { c := gatewayClient(); c.RedirectURIs = nil; o.Clients = []StaticClient{c} }, []string{"clients[0].redirect_uris: at least one"}},
		"client http redirect": {func(o *Options) {
			c := gatewayClient()
			c.RedirectURIs = []string{"https://rp.example/cb", "http://rp.example/cb"}
			o.Clients = []StaticClient{c}
		}, []string{"clients[0].redirect_uris[1]", "loopback"}},
		"several problems": {func(o *Options) { o.Issuer = "http://example.com"; o.Audience = "mcp" },
			[]string{"issuer", "audience"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tc.edit(&o)
			_, err := New(o)
			if err == nil {
				t.Fatal("New accepted invalid options")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	p, err := New(Options{Issuer: "http://localhost:8080", Audience: "http://localhost:8080/mcp", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer() != "http://localhost:8080" || p.ttl != DefaultTokenTTL || len(p.Users()) != 4 {
		t.Errorf("issuer %q ttl %v users %v", p.Issuer(), p.ttl, p.Users())
	}
	// The bare root discovery paths are never claimed; a root issuer's
	// Handler, mounted at "/", serves its discovery itself.
	if got := p.WellKnownPaths(); len(got) != 0 {
		t.Errorf("WellKnownPaths for a root issuer = %v, want none", got)
	}
}
