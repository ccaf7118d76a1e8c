package websession

import (
	"net/url"
	"strings"
)

// maxNext bounds the path a sign-in returns to.
const maxNext = 1024

// localPath accepts a path on this gateway to send the browser to after
// sign-in, such as "/connections?server=github", and refuses anything a
// browser could read as another site: absolute URLs, scheme-relative
// "//host", backslashes (browsers read "/\host" as "//host"), control
// characters and whitespace (stripped by browsers, so "/\t/host" is
// "//host"), and fragments, userinfo or hosts however spelled.
func localPath(next string) (string, bool) {
	if next == "" || len(next) > maxNext || next[0] != '/' || strings.HasPrefix(next, "//") {
		return "", false
	}
	for _, c := range []byte(next) {
		if c <= ' ' || c == 0x7f || c == '\\' || c == '#' {
			return "", false
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.EscapedPath(), "/") {
		return "", false
	}
	if p, err := url.PathUnescape(u.EscapedPath()); err != nil || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
		// "/%2F%2Fhost" is a local path, but a page or proxy that unescapes
		// it before redirecting would not be: refuse it too.
		return "", false
	}
	return next, true
}
