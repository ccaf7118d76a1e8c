package authn

import (
	"net/http"
	"strings"
	"testing"

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
