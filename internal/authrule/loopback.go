package authrule

import (
	"net"
	"strings"
)

// IsLoopbackHost reports whether host (no port, no brackets) is
// "localhost" or a loopback IP address (not a name that merely starts with
// "127.").
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackHostPort reports whether the host of hostport, a Host header
// or listen address with or without a port, is a loopback host.
func IsLoopbackHostPort(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return IsLoopbackHost(strings.Trim(host, "[]"))
}
