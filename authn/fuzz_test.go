package authn

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authrule"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// FuzzBearerHeader: parsing an Authorization header never panics, returns
// either a b64token or a challenge, and the challenge built from any input
// is one well-formed header.
func FuzzBearerHeader(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer ", "bearer abc", "Bearer  a.b.c", "Bearer a b", "Basic x",
		"Bearer a,b", "Bearer =", "Bearer abc==", "Bearer\tabc", "BEARER x", "Bearer a\r\nX: y", "Bearer é",
		// Found by fuzzing: a value that sanitises to "" must be left out, not
		// sent empty; a backslash-escape in a quoted value trips parsers.
		"\xc2", "0000,00\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		token, c := parseBearer(h)
		if c == nil {
			if token == "" || !isB64Token(token) || !strings.EqualFold(h[:6], "bearer") ||
				strings.TrimLeft(h[6:], " ") != token {
				t.Fatalf("parseBearer(%q) accepted %q", h, token)
			}
		} else {
			ok := c.status == http.StatusUnauthorized && c.code == codeInvalidToken ||
				c.status == http.StatusBadRequest && c.code == codeInvalidRequest ||
				c.status == http.StatusRequestHeaderFieldsTooLarge && c.code == codeInvalidRequest
			if token != "" || !ok {
				t.Fatalf("parseBearer(%q) = %q, %+v", h, token, c)
			}
		}
		hdr := challengeHeader(h, strings.Fields(h), codeInvalidToken, h)
		if strings.ContainsAny(hdr, "\r\n\x00") {
			t.Fatalf("challenge header %q has control characters", hdr)
		}
		cs, err := oauthex.ParseWWWAuthenticate([]string{hdr})
		if err != nil || len(cs) != 1 || cs[0].Params["error"] != codeInvalidToken {
			t.Fatalf("challenge %q does not parse back: %v %+v", hdr, err, cs)
		}
	})
}

// FuzzVerify: no string is accepted as a token unless it was signed by the
// issuer, and Verify never panics.
func FuzzVerify(f *testing.F) {
	e := newTestEnv(f, nil)
	valid := e.token("alice", nil)
	dot := strings.LastIndexByte(valid, '.')
	bob := e.token("bob", nil)
	for _, s := range []string{
		"", "a.b.c", "....", valid[:len(valid)-2], valid[:dot+1], valid + "A", strings.Replace(valid, ".", "..", 1),
		e.token("alice", nil, withAlg("none")),
		e.token("alice", map[string]any{"iss": "https://evil.example.com"}),
		e.token("alice", map[string]any{"aud": "other"}),
		e.token("alice", nil, withKid("x")),
		valid[:dot] + bob[strings.LastIndexByte(bob, '.'):], // alice's claims, bob's signature
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if id, err := e.v.Verify(t.Context(), raw); err == nil {
			t.Fatalf("Verify(%q) accepted: %+v", raw, id)
		}
	})
}

// FuzzOrigin: an Origin header is let through only when the request has
// none, or when it names an allowed origin, or (for a loopback listener)
// a loopback origin on the gateway's own port; never a second header,
// "null", or anything that does not parse as an origin.
func FuzzOrigin(f *testing.F) {
	for _, s := range []string{"https://claude.ai", "https://claude.ai:443", "https://CLAUDE.ai", "http://claude.ai",
		"https://claude.ai.evil.example", "http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:8080", "null",
		"https://claude.ai/", "https://user@claude.ai", "http://localhost:8080\r\n", "http://localhost.evil:8080", ""} {
		f.Add(s, "127.0.0.1:8080", true)
		f.Add(s, "mcp.example.com", false)
	}
	m := newOriginMatcher([]string{"https://claude.ai", "http://localhost:*"}, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, origin, host string, loopback bool) {
		r := &http.Request{Header: http.Header{}, Host: host}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if !m.allows(r, loopback) || origin == "" {
			return
		}
		o, err := authrule.ParseOrigin(origin)
		if err != nil {
			t.Fatalf("%q let through without parsing: %v", origin, err)
		}
		switch {
		case o.Scheme == "https" && o.Host == "claude.ai" && o.EffectivePort() == "443":
		case o.Scheme == "http" && o.Host == "localhost":
		case loopback && authrule.IsLoopbackHost(strings.Trim(o.Host, "[]")) && o.EffectivePort() == ownPort(r):
		default:
			t.Fatalf("%q (host %q, loopback %v) let through as %+v", origin, host, loopback, o)
		}
	})
}
