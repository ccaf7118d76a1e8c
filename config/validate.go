package config

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Path is the key path of the offending value, e.g. "servers[1].url";
	// empty for the document as a whole.
	Path string
	// Message says what is wrong and the rule.
	Message string
}

// String formats the problem as "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in a configuration, in
// document order.
type ValidationError struct {
	Problems []Problem
}

// Error returns one "path: message" line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,30}[a-z0-9])?$`)
	separatorRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,4}$`)
)

const nameRule = "use lowercase letters, digits, '-' and '_' (1-32 characters), starting and ending with a letter or digit"

// reservedHeaders are managed by the HTTP stack or the MCP transport and
// cannot be configured. Any "Proxy-" header is refused as well.
var reservedHeaders = []string{
	"Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Host", "Content-Length", "Mcp-Session-Id", "Mcp-Protocol-Version",
}

// problems collects problems in schema order, servers in index order.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Validate checks the configuration document and returns a
// [*ValidationError] listing every problem, or nil. It does no I/O: the
// files and environment variables the configuration names are read by
// [Config.Provision].
func (c *Config) Validate() error {
	if ps := c.problems(); len(ps) > 0 {
		return &ValidationError{Problems: ps}
	}
	return nil
}

func (c *Config) problems() []Problem {
	var ps problems
	validateAddress(&ps, "listen", c.Listen)
	if c.PublicURL != "" {
		validateURLAt(&ps, "public_url", c.PublicURL)
	}
	if c.MaxRequestBytes <= 0 {
		ps.add("max_request_bytes", "must be greater than 0")
	}
	if c.ShutdownGrace < 0 {
		ps.add("shutdown_grace", "must not be negative")
	}
	if c.SessionIdleTimeout < 0 {
		ps.add("session_idle_timeout", "must not be negative (0 means sessions never expire)")
	}
	if !separatorRE.MatchString(c.Naming.Separator) {
		ps.add("naming.separator", "%q is not a valid separator: use 1-4 characters from A-Z, a-z, 0-9, '_', '-', '.'", c.Naming.Separator)
	}
	validateTrustedProxies(&ps, c.TrustedProxies)
	c.validateServers(&ps)
	c.validateScopes(&ps)
	c.Auth.validate(&ps)
	c.AuthorizationServer.validate(&ps)
	c.validateAdvertisedScopes(&ps)
	c.validateIdentityAssertions(&ps)
	c.validateWebSignIn(&ps)
	c.Limits.validate(&ps)
	c.Policy.validate(&ps)
	c.Telemetry.validate(&ps)
	c.Store.validate(&ps)
	c.validateApproval(&ps)
	c.validateConsole(&ps)
	return ps
}

// validateAddress checks a listener's host:port at path.
func validateAddress(ps *problems, path, listen string) {
	_, port, err := net.SplitHostPort(listen)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
		ps.add(path, "%q is not a valid address: use host:port with a port from 1 to 65535, e.g. 127.0.0.1:8080", listen)
	}
}

// validateURLAt checks a public base URL at path.
func validateURLAt(ps *problems, path, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		ps.add(path, "%q is not valid: use an absolute http or https URL, e.g. https://mcp.example.com", raw)
	case u.User != nil:
		ps.add(path, "must not contain credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		ps.add(path, "must not have a query or fragment")
	}
}

func (c *Config) validateServers(ps *problems) {
	if len(c.Servers) == 0 {
		ps.add("servers", "at least one server is required")
		return
	}
	names := map[string]int{}
	prefixes := map[string]int{}
	for i := range c.Servers {
		s := &c.Servers[i]
		path := "servers[" + strconv.Itoa(i) + "]"
		s.validate(ps, path, c.Naming.Separator)
		if !checkUnique(ps, names, s.Name, i, path+".name", "names must be unique") && s.Prefix == nil {
			continue // the duplicate prefix is the duplicate name
		}
		rule := "prefixes must be unique"
		if s.Prefix == nil {
			rule += " (the prefix defaults to the name)"
		}
		checkUnique(ps, prefixes, s.EffectivePrefix(), i, path+".prefix", rule)
	}
	c.validateOAuthNeeds(ps)
}

// checkUnique reports value, and returns false, when an earlier item
// already used it.
func checkUnique(ps *problems, seen map[string]int, value string, i int, path, rule string) bool {
	if value == "" {
		return true
	}
	if j, dup := seen[value]; dup {
		ps.add(path, "%q is already used by %s[%d]: %s", value, listName(path), j, rule)
		return false
	}
	seen[value] = i
	return true
}

// listName returns the list an item path belongs to: "servers" for
// "servers[2].name", "servers[0].headers" for "servers[0].headers[1].name".
func listName(path string) string {
	return path[:strings.LastIndexByte(path, '[')]
}

func (s *Server) validate(ps *problems, path, sep string) {
	validateName(ps, path+".name", s.Name, sep, true)
	s.validateURL(ps, path+".url")
	if s.Transport != TransportStreamableHTTP && s.Transport != TransportSSE {
		ps.add(path+".transport", "%q is not supported: use %s or %s", s.Transport, TransportStreamableHTTP, TransportSSE)
	}
	if s.Timeout <= 0 {
		ps.add(path+".timeout", "must be greater than 0")
	}
	if s.Prefix != nil && *s.Prefix != "" {
		validateName(ps, path+".prefix", *s.Prefix, sep, false)
	}
	if _, ok := s.Labels[""]; ok {
		ps.add(joinPath(path+".labels", ""), "label keys must not be empty")
	}
	s.validateAuth(ps, path)
}

// validateName checks a server name or prefix.
func validateName(ps *problems, path, name, sep string, required bool) {
	switch {
	case name == "" && required:
		ps.add(path, "is required: give each server a unique name")
	case !nameRE.MatchString(name):
		ps.add(path, "%q is not a valid name: %s", name, nameRule)
	case sep != "" && strings.Contains(name, sep):
		ps.add(path, "%q contains the naming separator %q: choose a name without it", name, sep)
	}
}

func (s *Server) validateURL(ps *problems, path string) {
	if s.URL == "" {
		ps.add(path, "is required")
		return
	}
	u, err := url.Parse(s.URL)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		ps.add(path, "%q is not valid: use an absolute URL, e.g. https://notes.internal.example/mcp", s.URL)
	case u.Scheme != "https" && u.Scheme != "http":
		ps.add(path, "scheme %q is not supported: use https", u.Scheme)
	case u.User != nil:
		ps.add(path, "must not contain credentials: send them with headers")
	case u.Fragment != "" || strings.Contains(s.URL, "#"):
		ps.add(path, "must not have a fragment")
	case u.Scheme == "http" && !s.AllowInsecureHTTP:
		ps.add(path, "must be https unless allow_insecure_http is set")
	}
}

func validateHeaders(ps *problems, path string, hs []Header) {
	seen := map[string]int{}
	for i, h := range hs {
		hp := path + "[" + strconv.Itoa(i) + "]"
		if validateHeaderName(ps, hp+".name", h.Name) {
			checkUnique(ps, seen, http.CanonicalHeaderKey(h.Name), i, hp+".name", "header names must be unique")
		}
		if h.sources() != 1 {
			ps.add(hp, "%s", errHeaderSources)
		} else if hasControlChars(h.Value) {
			ps.add(hp+".value", "%s", errControlChars)
		}
	}
}

// validateHeaderName reports whether name is a configurable header name.
func validateHeaderName(ps *problems, path, name string) bool {
	canon := http.CanonicalHeaderKey(name)
	switch {
	case name == "":
		ps.add(path, "is required")
	case !isToken(name):
		ps.add(path, "%q is not a valid header name: use letters, digits and !#$%%&'*+-.^_`|~", name)
	case slices.Contains(reservedHeaders, canon) || strings.HasPrefix(canon, "Proxy-"):
		ps.add(path, "%q cannot be set: the gateway manages connection and MCP transport headers", name)
	default:
		return true
	}
	return false
}

// isToken reports whether s is an RFC 9110 token (a valid field name).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return s != ""
}
