package gateway

import (
	"strings"
	"testing"
)

func TestNamer(t *testing.T) {
	t.Parallel()
	n := namer{sep: "__"}
	long := strings.Repeat("a", 80)
	cases := map[string]struct {
		prefix, name, want string
	}{
		"prefixed":   {"notes", "read_note", "notes__read_note"},
		"no prefix":  {"", "read_note", "read_note"},
		"exactly 64": {"p", strings.Repeat("b", 61), "p__" + strings.Repeat("b", 61)},
		// 55 characters, '-', the first 8 hex digits of SHA-256 of the full name.
		"shortened":         {"notes", long, "notes__aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a357413a"},
		"shortened no pref": {"", long, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-0f45e858"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := n.name(tc.prefix, tc.name)
			if got != tc.want {
				t.Errorf("name(%q, %q) = %q, want %q", tc.prefix, tc.name, got, tc.want)
			}
			if len(got) > MaxNameLength {
				t.Errorf("%q is longer than %d", got, MaxNameLength)
			}
		})
	}
	// Shortening is deterministic and keeps distinct names distinct.
	a, b := n.name("s", long+"1"), n.name("s", long+"2")
	if a == b || a != n.name("s", long+"1") || !strings.HasPrefix(a, "s__aaaa") {
		t.Errorf("shortened names %q and %q", a, b)
	}
}

func FuzzNamer(f *testing.F) {
	f.Add("notes", "read_note", "__")
	f.Add("", strings.Repeat("x", 200), ".")
	f.Fuzz(func(t *testing.T, prefix, name, sep string) {
		got := namer{sep: sep}.name(prefix, name)
		full := name
		if prefix != "" {
			full = prefix + sep + name
		}
		if len(full) <= MaxNameLength && got != full {
			t.Fatalf("short name %q changed to %q", full, got)
		}
		if len(full) > MaxNameLength && len(got) != MaxNameLength {
			t.Fatalf("long name %q shortened to %d bytes", full, len(got))
		}
	})
}
