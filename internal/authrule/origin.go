package authrule

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Origin is a parsed origin, "scheme://host[:port]" (RFC 6454
// serialisation), normalised for comparison: scheme and host lowercase, an
// IPv6 host in brackets, Port "" for the scheme's default port and "*" for
// a loopback port wildcard.
type Origin struct{ Scheme, Host, Port string }

// String returns the serialised origin.
func (o Origin) String() string {
	if o.Port == "" {
		return o.Scheme + "://" + o.Host
	}
	return o.Scheme + "://" + o.Host + ":" + o.Port
}

// EffectivePort returns Port, or the scheme's default port when it is "".
func (o Origin) EffectivePort() string {
	if o.Port == "" {
		return defaultPorts[o.Scheme]
	}
	return o.Port
}

var defaultPorts = map[string]string{"http": "80", "https": "443"}

// ParseOrigin parses the value of an Origin header. A port wildcard is
// refused.
func ParseOrigin(s string) (Origin, error) { return parseOrigin(s, false) }

// ParseAllowedOrigin parses an entry of an origin allowlist: an origin,
// matched exactly, or one ending in ":*" (any port), allowed only for a
// loopback host, e.g. "http://localhost:*" for local tools on changing
// ports; a port wildcard on any other host would trust whatever runs on
// it. Errors say what is wrong and the rule.
func ParseAllowedOrigin(s string) (Origin, error) { return parseOrigin(s, true) }

func parseOrigin(s string, allowWildcard bool) (Origin, error) {
	wild := allowWildcard && strings.HasSuffix(s, ":*")
	raw := s
	if wild {
		raw = strings.TrimSuffix(s, "*")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		u.Opaque != "" || u.Path != "" || strings.ContainsAny(s, "?#") {
		return Origin{}, fmt.Errorf("%q is not an origin: use scheme://host[:port]", s)
	}
	o := Origin{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Hostname()), Port: u.Port()}
	if _, ok := defaultPorts[o.Scheme]; !ok {
		return Origin{}, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if !validHost(o.Host) {
		return Origin{}, fmt.Errorf("%q: host must be a DNS name (punycode) or an IP address, no wildcards", s)
	}
	if strings.Contains(o.Host, ":") {
		o.Host = "[" + o.Host + "]"
	}
	switch {
	case wild && !IsLoopbackHost(u.Hostname()):
		return Origin{}, fmt.Errorf("%q: a port wildcard is allowed only on a loopback host", s)
	case wild:
		o.Port = "*"
	case o.Port == defaultPorts[o.Scheme]:
		o.Port = ""
	}
	return o, nil
}

// validHost accepts an IP address or an ASCII DNS name, as browsers
// serialise origins.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return h != ""
}
