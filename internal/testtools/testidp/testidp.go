// Package testidp runs mcpgate's development identity provider as a real
// OIDC issuer on its own loopback server, for tests of the whole binary.
// (It is apart from testtools, which imports no mcpgate package, so that
// any package's tests may use testtools.)
package testidp

import (
	"net"
	"net/http"
	"testing"

	"github.com/mcpgate/mcpgate/authn/devidp"
)

// Start serves a development provider on 127.0.0.1 under /idp until the
// test ends; its access tokens are for audience (the gateway's MCP URL).
func Start(t testing.TB, audience string) *devidp.Provider {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := devidp.New(devidp.Options{Issuer: "http://" + ln.Addr().String() + "/idp", Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.StripPrefix("/idp", p.Handler())}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}
