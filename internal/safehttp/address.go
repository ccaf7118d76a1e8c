package safehttp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is wrapped by every error for a target the client
// refuses to contact: a URL that is not https (or, with
// InsecureAllowPrivateNetworks, loopback http), or an address that is not
// public, e.g. "refusing to connect to 127.0.0.1:443: loopback address".
var ErrForbiddenAddress = errors.New("forbidden address")

// forbiddenError is a refusal; its message says what was refused and why.
type forbiddenError struct{ msg string }

func forbidden(format string, args ...any) error {
	return &forbiddenError{msg: fmt.Sprintf(format, args...)}
}

func (e *forbiddenError) Error() string { return e.msg }

func (e *forbiddenError) Is(target error) bool { return target == ErrForbiddenAddress }

// special is a range of special-use addresses (RFC 6890 and its IANA
// registries) a fetch must not connect to.
type special struct {
	prefix netip.Prefix
	reason string
	// private marks a private network (loopback, RFC 1918, CGNAT, unique
	// local): InsecureAllowPrivateNetworks allows it. Link-local ranges are
	// never private in this sense: cloud metadata services live there.
	private bool
}

// specials is searched in order, so the cloud metadata addresses come
// before the ranges that contain them. IPv4 addresses embedded in IPv6
// ones (mapped, translated, NAT64, 6to4) are classified as the IPv4
// address they carry, by embeddedIPv4. Global ranges inside special ones
// (e.g. the AS112 anycast addresses in 2001::/23) are refused with them:
// nothing a client points us at lives there.
var specials = []special{
	{netip.MustParsePrefix("169.254.169.254/32"), "cloud metadata service address", false},
	{netip.MustParsePrefix("100.100.100.200/32"), "cloud metadata service address", false},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata service address", false},

	{netip.MustParsePrefix("0.0.0.0/32"), "unspecified address", false},
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" address (0.0.0.0/8)`, false},
	{netip.MustParsePrefix("10.0.0.0/8"), "private address (RFC 1918)", true},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT, RFC 6598)", true},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback address", true},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local address", false},
	{netip.MustParsePrefix("172.16.0.0/12"), "private address (RFC 1918)", true},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment (192.0.0.0/24)", false},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation address", false},
	{netip.MustParsePrefix("192.168.0.0/16"), "private address (RFC 1918)", true},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address (RFC 2544)", false},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation address", false},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation address", false},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast address", false},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast address", false},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved address (240.0.0.0/4)", false},

	{netip.MustParsePrefix("::/128"), "unspecified address", false},
	{netip.MustParsePrefix("::1/128"), "loopback address", true},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible address (deprecated)", false},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use IPv4/IPv6 translation address (RFC 8215)", false},
	{netip.MustParsePrefix("100::/64"), "discard-only address (RFC 6666)", false},
	{netip.MustParsePrefix("2001::/32"), "Teredo address", false},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment (2001::/23)", false},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation address", false},
	{netip.MustParsePrefix("3fff::/20"), "documentation address", false},
	{netip.MustParsePrefix("5f00::/16"), "segment routing (SRv6) address", false},
	{netip.MustParsePrefix("fc00::/7"), "unique local address (RFC 4193)", true},
	{netip.MustParsePrefix("fe80::/10"), "link-local address", false},
	{netip.MustParsePrefix("fec0::/10"), "site-local address (deprecated)", false},
	{netip.MustParsePrefix("ff00::/8"), "multicast address", false},
}

// IPv6 ranges that carry an IPv4 address.
var (
	translated = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 (SIIT)
	nat64      = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052 well-known prefix
	sixToFour  = netip.MustParsePrefix("2002::/16")       // RFC 3056
)

// classify returns why a connection to a must be refused ("" when a is a
// public address), and whether a is on a private network that
// InsecureAllowPrivateNetworks allows.
func classify(a netip.Addr) (reason string, private bool) {
	if !a.IsValid() {
		return "not an IP address", false
	}
	a = a.WithZone("") // a zoned address matches no prefix
	if v4, form, ok := embeddedIPv4(a); ok {
		reason, private = classify(v4)
		if reason != "" {
			reason = fmt.Sprintf("%s %s in %s form", reason, v4, form)
		}
		return reason, private
	}
	for _, s := range specials {
		if s.prefix.Contains(a) {
			return s.reason, s.private
		}
	}
	return "", false
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries, and the
// name of the form, when it is one that a host or a translator on the path
// would turn into a connection to that IPv4 address.
func embeddedIPv4(a netip.Addr) (v4 netip.Addr, form string, ok bool) {
	b := a.As16()
	switch {
	case !a.Is6():
		return netip.Addr{}, "", false
	case a.Is4In6():
		return a.Unmap(), "IPv4-mapped", true
	case translated.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), "IPv4-translated", true
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), "NAT64", true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), "6to4", true
	}
	return netip.Addr{}, "", false
}

// control is the dialer's Control hook: it runs after DNS resolution, for
// the address about to be connected to, before the connection is made.
func (c *Client) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	switch {
	case err != nil:
		return forbidden("refusing to connect to %s: not an IP address and port", address)
	case network != "tcp4" && network != "tcp6":
		return forbidden("refusing to connect to %s: network %s is not TCP", address, network)
	case c.exempt.IsValid() && ap == c.exempt:
		return nil // tests only: see export_test.go
	}
	reason, private := classify(ap.Addr())
	if reason == "" || private && c.allowPrivate {
		return nil
	}
	return forbidden("refusing to connect to %s: %s", ap, reason)
}
