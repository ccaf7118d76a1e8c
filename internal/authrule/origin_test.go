package authrule

import (
	"strings"
	"testing"
)

func TestParseAllowedOrigin(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ want, err string }{
		"https://ok.example.com":     {want: "https://ok.example.com"},
		"HTTPS://OK.example.com:443": {want: "https://ok.example.com"},
		"http://[::1]:*":             {want: "http://[::1]:*"},
		"http://localhost:*":         {want: "http://localhost:*"},
		"http://127.0.0.1:8080":      {want: "http://127.0.0.1:8080"},
		"https://*.example.com":      {err: "no wildcards"},
		"http://example.org:*":       {err: `"http://example.org:*": a port wildcard is allowed only on a loopback host`},
		"ftp://x":                    {err: "scheme must be http or https"},
		"https://a.example.com/path": {err: "not an origin"},
		"https://claude.ai/":         {err: "not an origin"},
		"null":                       {err: "not an origin"},
	}
	for in, tt := range tests {
		o, err := ParseAllowedOrigin(in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseAllowedOrigin(%q) = %v, want an error containing %q", in, err, tt.err)
		case tt.err == "" && (err != nil || o.String() != tt.want):
			t.Errorf("ParseAllowedOrigin(%q) = %q, %v; want %q", in, o, err, tt.want)
		}
	}
}

func TestParseOriginRefusesWildcard(t *testing.T) {
	t.Parallel()
	if o, err := ParseOrigin("http://localhost:*"); err == nil {
		t.Errorf("ParseOrigin accepted a port wildcard in an Origin header: %q", o)
	}
	o, err := ParseOrigin("http://localhost")
	if err != nil || o.EffectivePort() != "80" {
		t.Errorf("ParseOrigin(http://localhost) = %+v, %v; want effective port 80", o, err)
	}
}
