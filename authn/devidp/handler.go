package devidp

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authrule"
)

// Endpoint paths relative to the issuer's path.
const (
	pathOIDCConfig = "/.well-known/openid-configuration"
	pathASMetadata = "/.well-known/oauth-authorization-server"
	pathJWKS       = "/jwks"
	pathRegister   = "/register"
	pathAuthorize  = "/authorize"
	pathToken      = "/token"
)

// route dispatches a request to an endpoint. The path may be relative to the
// issuer's path (stripped by the caller), unstripped, or one of the root-level
// path-inserted discovery paths.
func (p *Provider) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if rest, ok := strings.CutPrefix(path, p.issuerPath); ok && p.issuerPath != "" && strings.HasPrefix(rest, "/") {
		path = rest
	}
	if slices.Contains(p.wellKnown, path) {
		path = pathOIDCConfig // the same document at every discovery path
	}
	switch path {
	case pathOIDCConfig, pathASMetadata:
		withCORS(p.serveMetadata)(w, r)
	case pathJWKS:
		withCORS(p.serveJWKS)(w, r)
	case pathRegister:
		withCORS(p.serveRegister)(w, r)
	case pathToken:
		withCORS(p.serveToken)(w, r)
	case pathAuthorize:
		p.serveAuthorize(w, r)
	default:
		http.NotFound(w, r)
	}
}

// loopbackOnly refuses peers that are not on the loopback interface, so that a
// gateway bound to a wider address by mistake still hands out no tokens.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Unmap().IsLoopback() {
			http.Error(w, "devidp: the development identity provider serves loopback clients only", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withCORS lets browser-based clients on this machine (the Inspector's web
// UI) call the endpoints a client calls directly. Only pages served from a
// loopback origin may: the provider serves loopback clients only, and a page
// of any other site has no business exchanging codes or registering
// clients here.
func withCORS(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if o, err := authrule.ParseOrigin(r.Header.Get("Origin")); err == nil && authrule.IsLoopbackHost(strings.Trim(o.Host, "[]")) {
			h.Set("Access-Control-Allow-Origin", o.String())
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next(w, r)
	}
}

// allowMethod answers 405 unless r uses method.
func allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
