package gateway

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/authrule"
)

// clientAddrHeader carries, inside the gateway, the client address the
// edge determined to the MCP layer, where policy inputs are built (the SDK
// hands each request's headers to its handler, and nothing else of the
// HTTP request). The edge removes any value a client sent.
const clientAddrHeader = authrule.ClientAddressHeader

// proxies are the trusted reverse proxies (config trusted_proxies).
type proxies []netip.Prefix

func newProxies(cfg []string) (proxies, error) {
	var ps proxies
	for _, s := range cfg {
		p, err := config.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func (ps proxies) trusted(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddress is the IP address of the client of r: the connection's
// peer, or, when the peer is a trusted proxy, the nearest address in
// X-Forwarded-For (read from the right, as each proxy appends the address
// it saw) that is not a trusted proxy; if they all are, the first one. It
// is "" when the address cannot be told: an X-Forwarded-For entry that is
// not an address stops the walk, as everything to its left could be the
// client's invention.
func (ps proxies) clientAddress(r *http.Request) string {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return ""
	}
	if !ps.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" && len(hops) == 1 {
			break // no X-Forwarded-For
		}
		a, ok := parseAddr(hop)
		if !ok {
			return ""
		}
		client = a
		if !ps.trusted(a) {
			break
		}
	}
	return client.String()
}

// parseAddr parses an IP address with or without a port ("192.0.2.1",
// "192.0.2.1:443", "[2001:db8::1]:443", "2001:db8::1").
func parseAddr(s string) (netip.Addr, bool) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// withClientAddress sets clientAddrHeader of r to its client's address,
// replacing whatever the client sent.
func (g *Gateway) withClientAddress(r *http.Request) {
	r.Header.Del(clientAddrHeader)
	if a := g.proxies.clientAddress(r); a != "" {
		r.Header.Set(clientAddrHeader, a)
	}
}

// ClientAddressed passes the client's address to next in the header
// authrule.ClientAddressHeader, as /mcp's handlers get it: the
// connection's peer, or with trusted_proxies the client they forwarded
// for; whatever a client sent in that header is removed. The gateway's
// routes have it; a listener of another's (the console's) wraps its
// handler with it.
func (g *Gateway) ClientAddressed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.withClientAddress(r)
		next.ServeHTTP(w, r)
	})
}
