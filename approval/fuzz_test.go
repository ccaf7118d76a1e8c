package approval

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// FuzzParseLock: whatever a lock file holds, ParseLock does not panic;
// what it accepts writes back and reads back the same.
func FuzzParseLock(f *testing.F) {
	if golden, err := os.ReadFile("testdata/lock.golden.yaml"); err == nil {
		f.Add(golden)
	}
	for _, s := range []string{
		"version: 1\nservers: {}\n",
		"version: 1\nservers:\n  notes:\n    tools:\n      x:\n        digest: sha256:00\n        definition: {name: x}\n",
		"version: 1\nservers: {a: &x {tools: *x}}\n",
		"version: 1\nservers:\n  n: {tools: {t: {digest: 'sha256:1', definition: {name: t, n: 1e400}}}}\n",
		"version: 1\n---\nversion: 2\n",
		"[1, 2",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLock(data)
		if err != nil {
			return
		}
		out, err := l.Marshal()
		if err != nil {
			t.Fatalf("an accepted lock does not write back: %v", err)
		}
		back, err := ParseLock(out)
		if err != nil || !back.equal(l) {
			t.Fatalf("an accepted lock reads back otherwise: %v", err)
		}
	})
}

// FuzzDefinition: any definition an upstream may list is approved by the
// lock that pins it, through a write and a read, and shown for review
// without a control character an upstream could use on a terminal.
func FuzzDefinition(f *testing.F) {
	for _, s := range []string{
		`{"name":"read_note","description":"Read a note.\nReturns it.","inputSchema":{"type":"object","properties":{"id":{"type":"string","maxLength":64}}}}`,
		`{"name":"yes","description":"~","inputSchema":{"type":"object","properties":{"<<":{"default":".inf"},"0x10":{"const":-0}}}}`,
		`{"name":"t","description":"a\u001b[2K\rb\u202e","_meta":{"ui":{"resourceUri":"ui://x"}},"inputSchema":{"type":"object"}}`,
		`{"name":"n","inputSchema":{"type":"object","x":12345678901234567890,"y":1E2,"z":[[],{}]}}`,
		`{"name":"deep","inputSchema":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":[1]}}}}}}}}}}}`,
	} {
		f.Add(s, `{"name":"other","inputSchema":{"type":"object"}}`)
	}
	f.Fuzz(func(t *testing.T, def, other string) {
		it, err := NewItem(KindTool, json.RawMessage(def))
		if err != nil {
			return
		}
		lock := (*Lock)(nil).Approve("s", []Item{it})
		out, err := lock.Marshal()
		if err != nil {
			t.Fatalf("a definition NewItem takes does not write: %v", err)
		}
		back, err := ParseLock(out)
		if err != nil {
			t.Fatalf("the written lock does not read: %v", err)
		}
		if st := back.Server("s").State(it); st != Approved {
			t.Fatalf("the pinned definition reads back %s", st)
		}
		var buf bytes.Buffer
		changes := Compare(nil, []Item{it})
		if o, err := NewItem(KindTool, json.RawMessage(other)); err == nil && o.Name == it.Name {
			changes = Compare(back.Server("s"), []Item{o})
		}
		WriteChanges(&buf, "s", changes)
		for _, r := range buf.String() {
			if r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || hidden(r)) {
				t.Fatalf("the review shows %U raw:\n%q", r, buf.String())
			}
		}
		if strings.Count(buf.String(), "\n~ ")+strings.Count(buf.String(), "\n+ ") > 0 {
			t.Fatalf("an item's diff forged a header line:\n%s", buf.String())
		}
	})
}
