package safehttp

import "net/netip"

// NewForTest returns a Client whose dialer connects to hosts[name] instead
// of resolving name, and whose address rules let exactly one address,
// exempt (if valid), through: the stand-in for a public server, since a
// test can only start servers on loopback. Every other address still goes
// through the real Control hook and rules.
func NewForTest(opts *Options, hosts map[string]netip.Addr, exempt netip.AddrPort) *Client {
	c := newClient(opts, hosts)
	c.exempt = exempt
	return c
}
