package config

import (
	"net/url"
	"strings"
)

// Defaults and bounds of the console section.
const (
	// DefaultConsoleRecentDecisions is how many decisions the console's
	// Decisions page keeps in memory when console.recent_decisions is
	// omitted.
	DefaultConsoleRecentDecisions = 2000
	// MaxConsoleRecentDecisions bounds console.recent_decisions: a kept
	// decision costs a few hundred bytes, 4 KiB at most, and the Decisions
	// page copies, filters and charts them all at each view, holding the
	// ring's lock for the copy (a millisecond or so at this bound).
	MaxConsoleRecentDecisions = 20_000
)

// Console is the security team's web console (docs/console.md): servers
// and their approval, an access explorer that asks the policy engine, the
// latest decisions and the policy in use. Its users sign in with
// web_sign_in, and the policy decides who may use it (phase console).
type Console struct {
	// Enabled serves the console under /console. It needs web_sign_in. If
	// omitted, defaults to false.
	Enabled bool `yaml:"enabled,omitempty"`

	// ListenAddress, if set, serves the console (and its sign-in) on a
	// listener of its own, host:port, instead of the main one: an admin
	// listener that only the security team's network reaches. It needs
	// public_url.
	ListenAddress string `yaml:"listen_address,omitempty"`

	// PublicURL is the console listener's public base URL: the browser
	// comes back to <public_url>/signin/callback after sign-in, so
	// register that redirect URI with the web_sign_in client. Required
	// with listen_address, not allowed without it (on the main listener
	// the gateway's public_url serves).
	PublicURL string `yaml:"public_url,omitempty"`

	// RecentDecisions is how many of the latest decisions the Decisions
	// page keeps in memory (per replica), at most 20000. If omitted,
	// defaults to 2000.
	RecentDecisions int `yaml:"recent_decisions,omitempty"`

	// TraceURL, if set, links each decision's trace id on the Decisions
	// page to a trace viewer: {trace_id} is replaced by the id, e.g.
	// https://jaeger.example.com/trace/{trace_id}. An absolute http(s)
	// URL.
	TraceURL string `yaml:"trace_url,omitempty"`
}

// ConsoleRecentDecisions is console.recent_decisions with its default.
func (c *Config) ConsoleRecentDecisions() int {
	if c.Console.RecentDecisions == 0 {
		return DefaultConsoleRecentDecisions
	}
	return c.Console.RecentDecisions
}

// ConsoleBaseURL is the public base URL of the console's listener: the
// gateway's public_url on the main listener.
func (c *Config) ConsoleBaseURL() string {
	if c.Console.ListenAddress != "" {
		return trimSlash(c.Console.PublicURL)
	}
	return c.PublicURL
}

// validateConsole checks the console section when it is enabled: one
// switched off is not checked, as an operator may keep a half-written one.
func (c *Config) validateConsole(ps *problems) {
	k := &c.Console
	if !k.Enabled {
		return
	}
	if k.RecentDecisions < 0 || k.RecentDecisions > MaxConsoleRecentDecisions {
		ps.add("console.recent_decisions", "%d is out of range: use 1 to %d (0 or omitted: %d)",
			k.RecentDecisions, MaxConsoleRecentDecisions, DefaultConsoleRecentDecisions)
	}
	if k.ListenAddress != "" {
		validateAddress(ps, "console.listen_address", k.ListenAddress)
		if k.ListenAddress == c.Listen {
			ps.add("console.listen_address", "%q is the main listener's address: omit it to serve the console there", k.ListenAddress)
		}
		if k.PublicURL == "" {
			ps.add("console.public_url", "is required with console.listen_address: the URL the browser reaches the console listener at, e.g. https://mcpgate-admin.example.com")
		} else {
			validateURLAt(ps, "console.public_url", k.PublicURL)
			if u, err := url.Parse(k.PublicURL); err == nil && trimSlash(u.Path) != "" {
				ps.add("console.public_url", "must not have a path: the console is served at its root's /console")
			}
		}
	} else if k.PublicURL != "" {
		ps.add("console.public_url", "is only for console.listen_address: on the main listener the console is at public_url")
	} else if u, err := url.Parse(c.PublicURL); err == nil && trimSlash(u.Path) != "" {
		ps.add("console.enabled", "public_url %q has a path, which the console's pages do not support: serve the console on its own listener (console.listen_address and console.public_url)", c.PublicURL)
	}
	if k.TraceURL != "" {
		if u, err := url.Parse(strings.ReplaceAll(k.TraceURL, "{trace_id}", "x")); err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") {
			ps.add("console.trace_url", "%q is not valid: use an absolute http or https URL", k.TraceURL)
		} else if !strings.Contains(k.TraceURL, "{trace_id}") {
			ps.add("console.trace_url", "must contain {trace_id}, which is replaced by each decision's trace id")
		}
	}
	if !c.WebSignIn.Enabled {
		ps.add("console.enabled", "needs web_sign_in: the console's users sign in in a browser (set web_sign_in.enabled and its client)")
	}
}
