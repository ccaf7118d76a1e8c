package authn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginMiddleware enforces the MCP transport rule that servers validate
// Origin on every request (DNS rebinding, cross-site requests):
//
//   - A request without Origin passes: it is not from a browser.
//   - A request whose Origin is not allowed gets 403 with a JSON-RPC error
//     body. "null" is never allowed; several Origin headers are refused.
//   - allowed entries are origins, "scheme://host[:port]", matched exactly
//     (scheme and host case-insensitively, default ports folded:
//     "https://a.example" is "https://a.example:443"). An entry may end in
//     ":*" (any port) only for a loopback host, e.g. "http://localhost:*"
//     for local tools on changing ports; a port wildcard on any other host
//     would trust whatever runs on it, so such entries (and other invalid
//     ones) are logged and ignored. ValidateOrigins reports them up front.
//   - When loopback is true (the gateway listens on a loopback address), the
//     Host header must be a loopback name or IP (localhost, 127.0.0.0/8,
//     [::1], any port), else 403: a DNS-rebound name is refused. Then an
//     Origin on a loopback host with the gateway's own port (taken from the
//     now trusted Host) is also allowed, so a page the gateway itself serves
//     and the conformance suite's localhost requests work with an empty
//     allowlist; other local ports need an entry such as
//     "http://localhost:*".
func OriginMiddleware(allowed []string, loopback bool, logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	m := newOriginMatcher(allowed, logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if loopback && !isLoopbackHostPort(r.Host) {
				refuseOrigin(w, r, logger, "host not allowed")
				return
			}
			if !m.allows(r, loopback) {
				refuseOrigin(w, r, logger, "origin not allowed")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ValidateOrigins reports every invalid entry of an origin allowlist.
func ValidateOrigins(allowed []string) error {
	var errs []error
	for i, a := range allowed {
		if err := ValidateOrigin(a); err != nil {
			errs = append(errs, fmt.Errorf("allowed_origins[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// ValidateOrigin reports whether s is an allowlist entry the Origin check
// accepts (the configuration's validation uses it, so that what validates
// is what runs).
func ValidateOrigin(s string) error {
	_, err := parseOrigin(s, true)
	return err
}

// origin is a parsed origin; port is "" for the scheme's default port and
// "*" for a loopback port wildcard.
type origin struct{ scheme, host, port string }

func (o origin) String() string {
	if o.port == "" {
		return o.scheme + "://" + o.host
	}
	return o.scheme + "://" + o.host + ":" + o.port
}

var defaultPorts = map[string]string{"http": "80", "https": "443"}

// parseOrigin parses "scheme://host[:port]" (RFC 6454 serialisation).
func parseOrigin(s string, allowWildcard bool) (origin, error) {
	wild := allowWildcard && strings.HasSuffix(s, ":*")
	raw := s
	if wild {
		raw = strings.TrimSuffix(s, "*")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		u.Opaque != "" || u.Path != "" || strings.ContainsAny(s, "?#") {
		return origin{}, fmt.Errorf("%q is not an origin: use scheme://host[:port]", s)
	}
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if _, ok := defaultPorts[o.scheme]; !ok {
		return origin{}, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if !validHost(o.host) {
		return origin{}, fmt.Errorf("%q: host must be a DNS name (punycode) or an IP address, no wildcards", s)
	}
	if strings.Contains(o.host, ":") {
		o.host = "[" + o.host + "]"
	}
	switch {
	case wild && !IsLoopbackHost(u.Hostname()):
		return origin{}, fmt.Errorf("%q: a port wildcard is allowed only on a loopback host", s)
	case wild:
		o.port = "*"
	case o.port == defaultPorts[o.scheme]:
		o.port = ""
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

type originMatcher struct {
	exact   map[string]bool // origin.String() of exact entries
	anyPort map[string]bool // scheme://host of wildcard entries
}

func newOriginMatcher(allowed []string, logger *slog.Logger) *originMatcher {
	m := &originMatcher{exact: map[string]bool{}, anyPort: map[string]bool{}}
	for _, a := range allowed {
		o, err := parseOrigin(a, true)
		if err != nil {
			logger.Error("authn: ignoring invalid allowed origin", "error", err)
			continue
		}
		if o.port == "*" {
			m.anyPort[o.scheme+"://"+o.host] = true
		} else {
			m.exact[o.String()] = true
		}
	}
	return m
}

func (m *originMatcher) allows(r *http.Request, loopback bool) bool {
	values := r.Header.Values("Origin")
	switch {
	case len(values) == 0:
		return true
	case len(values) > 1 || values[0] == "null":
		return false
	}
	o, err := parseOrigin(values[0], false)
	if err != nil {
		return false
	}
	if m.exact[o.String()] || m.anyPort[o.scheme+"://"+o.host] {
		return true
	}
	return loopback && IsLoopbackHost(strings.Trim(o.host, "[]")) && effectivePort(o) == ownPort(r)
}

func effectivePort(o origin) string {
	if o.port == "" {
		return defaultPorts[o.scheme]
	}
	return o.port
}

// ownPort is the port of the request's Host header (trusted once it is known
// to be loopback), or the default port of the connection's scheme.
func ownPort(r *http.Request) string {
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		return port
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

func isLoopbackHostPort(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return IsLoopbackHost(strings.Trim(host, "[]"))
}

// refuseBody is a JSON-RPC error without an id: the request was not read.
const refuseBody = `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Forbidden: %s"}}` + "\n"

func refuseOrigin(w http.ResponseWriter, r *http.Request, logger *slog.Logger, why string) {
	logger.LogAttrs(r.Context(), slog.LevelWarn, "authn: request refused: "+why,
		slog.String("origin", truncate(r.Header.Get("Origin"), 200)), slog.String("host", truncate(r.Host, 200)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, refuseBody, why)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
