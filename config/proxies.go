package config

import (
	"fmt"
	"net/netip"
	"strings"
)

func validateTrustedProxies(ps *problems, proxies []string) {
	for i, p := range proxies {
		if _, err := ParsePrefix(p); err != nil {
			ps.add(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
}

// ParsePrefix parses a trusted proxy: an IP address (a prefix of its full
// length) or a CIDR prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix: use e.g. 10.0.0.0/8 or fd00::/8", s)
		}
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("%q has bits set beyond its prefix length: did you mean %s?", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix: use e.g. 10.0.0.7 or 10.0.0.0/8", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
