package connections

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authn/authserver"
	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/internal/testtools/devsignin"
	"github.com/mcpgate/mcpgate/store"
)

// grantAll grants what is asked and lets every client register.
type grantAll struct{}

func (grantAll) Grant(_ context.Context, req *authserver.GrantRequest) ([]string, []string, error) {
	return req.Requested, []string{"test: everything asked"}, nil
}

func (grantAll) Register(context.Context, *authserver.RegistrationRequest) (bool, []string, error) {
	return true, []string{"test"}, nil
}

// An authorization server that supports Client ID Metadata Documents (the
// gateway's own authorization-server mode, federating to the development
// provider) knows the gateway by the URL of its metadata document: the
// gateway registers nothing, the server fetches the document over https,
// and the employee's connection works as with any client.
func TestConnectWithClientMetadataDocument(t *testing.T) {
	t.Parallel()
	// The gateway's pages, on https: a metadata document URL must be.
	var gatewayHandler http.Handler = http.NotFoundHandler()
	gw := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gatewayHandler.ServeHTTP(w, r) }))
	gw.StartTLS()
	t.Cleanup(gw.Close)
	roots := x509.NewCertPool()
	roots.AddCert(gw.Certificate())

	// The upstream's authorization server, federating to a development
	// provider, both on loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	asIssuer := "http://" + ln.Addr().String()
	idp, err := devidp.New(devidp.Options{Issuer: asIssuer + "/idp", Audience: asIssuer,
		Clients: []devidp.StaticClient{{ID: "as", Secret: "as-secret", RedirectURIs: []string{asIssuer + authserver.PathCallback}, Name: "as"}}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenFile(filepath.Join(t.TempDir(), "as.db"), &store.Options{PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const upstreamURL = "http://127.0.0.1:1/mcp"
	as, err := authserver.New(authserver.Options{Issuer: asIssuer, Resource: upstreamURL, Store: st, Granter: grantAll{},
		IdP:  authserver.IdP{Issuer: idp.Issuer(), ClientID: "as", ClientSecret: "as-secret", Scopes: []string{"openid", "email"}},
		Keys: []crypto.Signer{key}, Scopes: []authserver.Scope{{Name: "calendar.read", Description: "Read your calendar"}},
		MetadataDocuments: true, MetadataDocumentsAllowPrivate: true, MetadataDocumentsRootCAs: roots,
		AccessTokenTTL: 5 * time.Minute, RefreshTokenTTL: time.Hour, RefreshMaxLifetime: 24 * time.Hour, ConsentTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for pattern, h := range as.Routes() {
		mux.Handle(pattern, h)
	}
	mux.Handle("/idp/", http.StripPrefix("/idp", idp.Handler()))
	asSrv := &http.Server{Handler: mux}
	go asSrv.Serve(ln)
	t.Cleanup(func() { asSrv.Close() })

	// The gateway: its vault in a store of its own.
	gst, vault := fileVault(t, 4)
	m, err := New(Options{
		Upstreams: []Upstream{{Name: "calendar", URL: upstreamURL, AuthorizationServer: asIssuer, AllowInsecureHTTP: true}},
		Vault:     vault, Store: gst, BaseURL: gw.URL, Identity: signedIn,
		Scopes: func(context.Context, string, *authn.Identity) ([]string, error) {
			return []string{"calendar.read"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	gatewayHandler = m.Handler()

	// The document is public, and names the gateway's callback.
	resp, err := gw.Client().Get(gw.URL + PathClientMetadata + "/calendar.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc["client_id"] != gw.URL+PathClientMetadata+"/calendar.json" || doc["token_endpoint_auth_method"] != "none" {
		t.Fatalf("client metadata document: %v %v", doc, err)
	}

	link, err := m.ConnectURL(context.Background(), "calendar", employees["alice"], nil, "")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(gw.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: signInCookie, Value: "alice"}})
	tr := gw.Client().Transport
	browser := &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authorize, err := resp.Location()
	if err != nil || authorize.Query().Get("client_id") != gw.URL+PathClientMetadata+"/calendar.json" {
		t.Fatalf("the authorization request %v names client %q, want the metadata document's URL", authorize, authorize.Query().Get("client_id"))
	}
	back, err := devsignin.DevSignIn(context.Background(), browser, authorize.String(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := devsignin.FollowToClient(context.Background(), browser, back, gw.URL+PathCallback+"/calendar", "allow")
	if err != nil {
		t.Fatal(err)
	}
	resp, err = browser.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	token, err := m.Token(context.Background(), "calendar", employees["alice"], []string{"calendar.read"})
	if err != nil || token == "" {
		t.Fatalf("token after connecting with a metadata document client: %v", err)
	}
	if _, ok, _ := vault.Get(context.Background(), nsClient, "calendar", asIssuer); ok {
		t.Error("the gateway registered a client although the server takes its metadata document")
	}
}
