package approval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Change is an item whose standing against the lock is not approved: a
// modified or new item the server lists, or an approved item it no longer
// lists (Removed).
type Change struct {
	Kind  Kind
	Name  string
	State State
	// Approved is the lock's definition (nil for a new item); Listed is
	// what the server lists (nil for a removed one).
	Approved, Listed json.RawMessage
}

// Compare returns what differs between what s approves and items (what
// the server lists now), ordered by kind and name.
func Compare(s *ServerLock, items []Item) []Change {
	var out []Change
	listed := make(map[Key]bool, len(items))
	for _, it := range items {
		listed[it.key()] = true
		switch s.State(it) {
		case New:
			out = append(out, Change{Kind: it.Kind, Name: it.Name, State: New, Listed: it.Definition})
		case Modified:
			e, _ := s.Entry(it.key())
			out = append(out, Change{Kind: it.Kind, Name: it.Name, State: Modified, Approved: e.Definition, Listed: it.Definition})
		}
	}
	if s != nil {
		for k, e := range s.entries {
			if !listed[k] {
				out = append(out, Change{Kind: k.Kind, Name: k.Name, State: Removed, Approved: e.Definition})
			}
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		if c := slices.Index(Kinds, a.Kind) - slices.Index(Kinds, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Diff describes the change for a reviewer: for a modified item each
// field that changed (text line by line, other values as JSON), for a new
// item its definition, for a removed one nothing more. Lines are indented
// by indent.
func (c Change) Diff(indent string) string {
	var b strings.Builder
	switch c.State {
	case Modified:
		diffValue(&b, indent, "", decode(c.Approved), decode(c.Listed))
	case New:
		def, _ := decode(c.Listed).(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(def)) {
			writeField(&b, indent, join("", k), def[k], "")
		}
	}
	return b.String()
}

// WriteChanges writes the changes of one server for a reviewer, one
// header line per item ("~" modified, "+" new, "-" removed) followed by
// its diff.
func WriteChanges(w io.Writer, server string, changes []Change) {
	marks := map[State]string{Modified: "~", New: "+", Removed: "-"}
	for _, c := range changes {
		fmt.Fprintf(w, "%s %s %q of server %q: %s\n", marks[c.State], c.Kind.Singular(), c.Name, server, c.State)
		io.WriteString(w, c.Diff("    "))
	}
}

func decode(raw json.RawMessage) any {
	if raw == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	return v
}

// diffValue writes what changed from a to b at path.
func diffValue(b *strings.Builder, indent, path string, a, c any) {
	am, aok := a.(map[string]any)
	cm, cok := c.(map[string]any)
	if aok && cok {
		keys := slices.Sorted(maps.Keys(am))
		for k := range cm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			av, inA := am[k]
			cv, inC := cm[k]
			p := join(path, k)
			switch {
			case !inA:
				writeField(b, indent, p, cv, "added: ")
			case !inC:
				writeField(b, indent, p, av, "removed: ")
			case !equalJSON(av, cv):
				diffValue(b, indent, p, av, cv)
			}
		}
		return
	}
	as, aok := a.(string)
	cs, cok := c.(string)
	if aok && cok && (strings.Contains(as, "\n") || strings.Contains(cs, "\n") || len(as)+len(cs) > 80) {
		fmt.Fprintf(b, "%s%s:\n", indent, path)
		diffLines(b, indent+"  ", strings.Split(as, "\n"), strings.Split(cs, "\n"))
		return
	}
	fmt.Fprintf(b, "%s%s: %s → %s\n", indent, path, printable(compact(a)), printable(compact(c)))
}

// writeField writes one field's value: text as its lines, anything else
// as JSON.
func writeField(b *strings.Builder, indent, path string, v any, prefix string) {
	if s, ok := v.(string); ok && strings.Contains(s, "\n") {
		fmt.Fprintf(b, "%s%s: %s|\n", indent, path, prefix)
		for _, line := range strings.Split(s, "\n") {
			fmt.Fprintf(b, "%s  %s\n", indent, printable(line))
		}
		return
	}
	fmt.Fprintf(b, "%s%s: %s%s\n", indent, path, prefix, printable(compact(v)))
}

// join appends key to a field path: as .key when it is a plain name,
// else quoted, as [".."] (a key may hold anything, a line break included,
// and must not make a line of its own).
func join(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_$@/-]+$`)

// printable makes a line of an upstream's text safe to show on a terminal
// and in a log: control characters (an escape sequence could rewrite
// what the reviewer sees), bidirectional overrides, line and paragraph
// separators and invisible tag characters are shown as \u{XXXX}.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if hidden(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if hidden(r) {
			fmt.Fprintf(&b, "\\u{%04X}", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func hidden(r rune) bool {
	switch {
	case r == '\t':
		return false
	case r < 0x20, r >= 0x7f && r < 0xa0, r == utf8.RuneError:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	case r == 0x2028, r == 0x2029, r >= 0xe0000 && r <= 0xe007f:
		return true
	}
	return false
}

func compact(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(buf.String(), "\n")
}

func equalJSON(a, b any) bool { return compact(a) == compact(b) }

// maxDiffCells bounds the table that aligns two texts' lines.
const maxDiffCells = 1 << 20

// diffLines writes a line diff of a and b: "- " removed, "+ " added,
// "  " kept (the longest common subsequence; texts are short).
func diffLines(b *strings.Builder, indent string, a, c []string) {
	n, m := len(a), len(c)
	if n*m > maxDiffCells {
		// Too long to align (an upstream may list anything): every
		// line of each.
		for _, line := range a {
			fmt.Fprintf(b, "%s- %s\n", indent, printable(line))
		}
		for _, line := range c {
			fmt.Fprintf(b, "%s+ %s\n", indent, printable(line))
		}
		return
	}
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == c[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == c[j]:
			fmt.Fprintf(b, "%s  %s\n", indent, printable(a[i]))
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(b, "%s+ %s\n", indent, printable(c[j]))
			j++
		default:
			fmt.Fprintf(b, "%s- %s\n", indent, printable(a[i]))
			i++
		}
	}
}
