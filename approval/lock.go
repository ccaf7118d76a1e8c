package approval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind is a kind of item, as the lock names its section.
type Kind string

// The kinds of items, in the order a lock lists them.
const (
	KindTool     Kind = "tools"
	KindPrompt   Kind = "prompts"
	KindResource Kind = "resources"
	KindTemplate Kind = "resource_templates"
)

// Kinds are the kinds of items in the order a lock lists them.
var Kinds = []Kind{KindTool, KindPrompt, KindResource, KindTemplate}

// Singular names one item of the kind in messages: "tool", "resource
// template".
func (k Kind) Singular() string {
	switch k {
	case KindTool:
		return "tool"
	case KindPrompt:
		return "prompt"
	case KindResource:
		return "resource"
	case KindTemplate:
		return "resource template"
	}
	return string(k)
}

// nameField is the field of a definition that names the item: its key in
// the lock.
func (k Kind) nameField() string {
	switch k {
	case KindResource:
		return "uri"
	case KindTemplate:
		return "uriTemplate"
	}
	return "name"
}

// State is an item's standing against the lock.
type State string

// The states of an item (the policy input's target.approval).
const (
	// Approved: the lock holds the item with this very definition.
	Approved State = "approved"
	// Modified: the lock holds the item with another definition.
	Modified State = "modified"
	// New: the lock does not hold the item.
	New State = "new"
	// Removed: the lock holds an item the server no longer lists (in
	// changes only; such an item simply leaves).
	Removed State = "removed"
)

// Item is one tool, prompt, resource or resource template as a server
// lists it: its name as the server names it (a resource's URI, a
// template's URI template), its canonical definition and its digest.
type Item struct {
	Kind       Kind
	Name       string
	Definition json.RawMessage
	Digest     string
}

// NewItem makes the item of a definition (an *mcp.Tool and so on, or its
// JSON); its name is read from the definition.
func NewItem(kind Kind, def any) (Item, error) {
	canon, err := definitionOf(kind, def)
	if err != nil {
		return Item{}, err
	}
	var fields map[string]any
	if err := json.Unmarshal(canon, &fields); err != nil {
		return Item{}, err
	}
	name, _ := fields[kind.nameField()].(string)
	if name == "" {
		return Item{}, fmt.Errorf("approval: a %s without %s", kind.Singular(), kind.nameField())
	}
	return itemOf(kind, name, canon), nil
}

func itemOf(kind Kind, name string, canon json.RawMessage) Item {
	return Item{Kind: kind, Name: name, Definition: canon, Digest: digestOf(canon)}
}

// Key names an item within its server.
type Key struct {
	Kind Kind
	Name string
}

func (it Item) key() Key { return Key{it.Kind, it.Name} }

// Entry is what the lock holds of one approved item.
type Entry struct {
	Digest     string
	Definition json.RawMessage // canonical
}

// ServerLock is what the lock holds of one server. A nil *ServerLock holds
// nothing: every item is new.
type ServerLock struct {
	entries map[Key]Entry
}

// State is the standing of it against s.
func (s *ServerLock) State(it Item) State {
	if s == nil {
		return New
	}
	e, ok := s.entries[it.key()]
	switch {
	case !ok:
		return New
	case e.Digest == it.Digest:
		return Approved
	default:
		return Modified
	}
}

// Entry returns the approved entry of the item named k.
func (s *ServerLock) Entry(k Key) (Entry, bool) {
	if s == nil {
		return Entry{}, false
	}
	e, ok := s.entries[k]
	return e, ok
}

// Len is the number of items s approves.
func (s *ServerLock) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// Lock is a lock file: per server, the approved items. The zero value and
// nil approve nothing.
type Lock struct {
	servers map[string]*ServerLock
}

// Server returns what l holds of the server name; nil when nothing.
func (l *Lock) Server(name string) *ServerLock {
	if l == nil {
		return nil
	}
	return l.servers[name]
}

// Servers are the names of the servers l holds, sorted.
func (l *Lock) Servers() []string {
	if l == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(l.servers))
}

// Approve returns a copy of l in which the server name approves exactly
// items (what it lists now). The other servers are kept.
func (l *Lock) Approve(name string, items []Item) *Lock {
	out := &Lock{servers: map[string]*ServerLock{}}
	if l != nil {
		maps.Copy(out.servers, l.servers)
	}
	s := &ServerLock{entries: make(map[Key]Entry, len(items))}
	for _, it := range items {
		s.entries[it.key()] = Entry{Digest: it.Digest, Definition: it.Definition}
	}
	out.servers[name] = s
	return out
}

// Without returns a copy of l without the server name.
func (l *Lock) Without(name string) *Lock {
	out := &Lock{servers: map[string]*ServerLock{}}
	if l != nil {
		maps.Copy(out.servers, l.servers)
	}
	delete(out.servers, name)
	return out
}

// LockVersion is the version of the lock format this package reads and
// writes.
const LockVersion = 1

// MaxLockBytes bounds a lock file.
const MaxLockBytes = 32 << 20

// header starts every lock file.
const header = `# mcpgate lock file: the definitions the security team approved of each
# server's tools, prompts, resources and resource templates, written by
# mcpgate approve. Review changes to it like code (docs/approval.md);
# do not edit it by hand: every definition must match its digest.
`

// Marshal writes l as a lock file: servers, kinds and items in order, each
// item with its digest and its definition as YAML (multi-line text as
// literal blocks), so a change shows as a readable diff in review.
func (l *Lock) Marshal() ([]byte, error) {
	servers := &yaml.Node{Kind: yaml.MappingNode}
	for _, name := range l.Servers() {
		s := l.servers[name]
		kinds := &yaml.Node{Kind: yaml.MappingNode}
		for _, kind := range Kinds {
			var names []string
			for k := range s.entries {
				if k.Kind == kind {
					names = append(names, k.Name)
				}
			}
			if len(names) == 0 {
				continue
			}
			slices.Sort(names)
			items := &yaml.Node{Kind: yaml.MappingNode}
			for _, n := range names {
				e := s.entries[Key{kind, n}]
				def, err := yamlOf(e.Definition)
				if err != nil {
					return nil, fmt.Errorf("approval: %s %q of server %q: %w", kind.Singular(), n, name, err)
				}
				items.Content = append(items.Content, str(n), mapping(str("digest"), str(e.Digest), str("definition"), def))
			}
			kinds.Content = append(kinds.Content, str(string(kind)), items)
		}
		if len(kinds.Content) == 0 {
			kinds.Style = yaml.FlowStyle
		}
		servers.Content = append(servers.Content, str(name), kinds)
	}
	if len(servers.Content) == 0 {
		servers.Style = yaml.FlowStyle
	}
	doc := mapping(str("version"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(LockVersion)}, str("servers"), servers)
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("approval: write the lock: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	// What is written must read back as the same lock: a definition
	// that YAML would read otherwise is caught here, not at the next
	// start.
	back, err := ParseLock(out)
	if err != nil {
		return nil, fmt.Errorf("approval: the written lock does not read back: %w", err)
	}
	if !back.equal(l) {
		return nil, errors.New("approval: the written lock reads back different")
	}
	return out, nil
}

func (l *Lock) equal(o *Lock) bool {
	if len(l.Servers()) != len(o.Servers()) {
		return false
	}
	for name, s := range l.servers {
		t := o.servers[name]
		if t == nil || len(s.entries) != len(t.entries) {
			return false
		}
		for k, e := range s.entries {
			if f, ok := t.entries[k]; !ok || f.Digest != e.Digest {
				return false
			}
		}
	}
	return true
}

func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}

func mapping(kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: kv}
}

// yamlOf converts canonical JSON to YAML nodes, keeping its key order and
// the spelling of its numbers.
func yamlOf(canon json.RawMessage) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.UseNumber()
	n, err := yamlValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the definition")
	}
	return n, nil
}

// blockDepth is how deep a definition is written in block style; deeper
// values are written in flow style, on their line, so that the lock grows
// with the definition and not with the square of its depth (block style
// indents every level).
const blockDepth = 8

func yamlValue(dec *json.Decoder, depth int) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := yamlValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, str(k.(string)), v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if len(n.Content) == 0 || depth >= blockDepth {
				n.Style = yaml.FlowStyle
			}
			return n, nil
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for dec.More() {
				v, err := yamlValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if len(n.Content) == 0 || depth >= blockDepth {
				n.Style = yaml.FlowStyle
			}
			return n, nil
		}
	case string:
		return str(t), nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(t), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// LockError is a problem of a lock file, at a line and column (0 when it
// concerns the whole file).
type LockError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *LockError) Error() string {
	where := e.File
	if where == "" {
		where = "lock"
	}
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", where, e.Line, e.Column)
	}
	return where + ": " + e.Msg
}

func errAt(n *yaml.Node, format string, args ...any) *LockError {
	return &LockError{Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

// LoadLock reads the lock file at path and checks that every server it
// names is one of servers (the configuration's); errors name the file and
// the position.
func LoadLock(path string, servers []string) (*Lock, error) {
	l, _, err := loadLock(path, servers)
	return l, err
}

func loadLock(path string, servers []string) (*Lock, []byte, error) {
	data, err := readLockFile(path)
	if err != nil {
		return nil, nil, err
	}
	l, err := parseLockFile(path, data, servers)
	return l, data, err
}

// readLockFile reads the lock file at path, bounded by MaxLockBytes.
func readLockFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("approval: read the lock file: %w (run mcpgate approve to write it)", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxLockBytes+1))
	if err != nil {
		return nil, fmt.Errorf("approval: read the lock file %s: %w", path, err)
	}
	return data, nil
}

// parseLockFile is parseLock with the file's name in its errors.
func parseLockFile(path string, data []byte, servers []string) (*Lock, error) {
	l, err := parseLock(data, servers)
	if le := (*LockError)(nil); errors.As(err, &le) {
		le.File = path
	}
	return l, err
}

// ParseLock reads a lock file's content.
func ParseLock(data []byte) (*Lock, error) {
	return parseLock(data, nil)
}

func parseLock(data []byte, servers []string) (*Lock, error) {
	if len(data) > MaxLockBytes {
		return nil, &LockError{Msg: fmt.Sprintf("larger than %d MiB", MaxLockBytes>>20)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err == io.EOF {
		return nil, &LockError{Msg: "empty: run mcpgate approve to write it"}
	} else if err != nil {
		return nil, &LockError{Msg: "not YAML: " + err.Error()}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &LockError{Msg: "empty: run mcpgate approve to write it"}
	}
	var more yaml.Node
	if err := dec.Decode(&more); err != io.EOF {
		// What a reviewer reads after "---" would be neither enforced
		// nor checked.
		return nil, &LockError{Line: more.Line, Msg: "a lock is one YAML document; this file has more (after ---)"}
	}
	root := doc.Content[0]
	fields, err := fieldsOf(root, "the lock", "version", "servers")
	if err != nil {
		return nil, err
	}
	v := fields["version"]
	if v == nil {
		return nil, errAt(root, "no version: a lock written by mcpgate approve has version: %d", LockVersion)
	}
	if v.Kind != yaml.ScalarNode || v.Value != fmt.Sprint(LockVersion) {
		return nil, errAt(v, "version %q is not supported: this mcpgate reads version %d", v.Value, LockVersion)
	}
	l := &Lock{servers: map[string]*ServerLock{}}
	sn := fields["servers"]
	if sn == nil {
		return l, nil
	}
	if sn.Kind != yaml.MappingNode {
		return nil, errAt(sn, "servers must be a mapping of server names")
	}
	known := map[string]bool{}
	for _, s := range servers {
		known[s] = true
	}
	for i := 0; i < len(sn.Content); i += 2 {
		kn, vn := sn.Content[i], sn.Content[i+1]
		name := kn.Value
		if kn.Kind != yaml.ScalarNode || name == "" {
			return nil, errAt(kn, "a server name must be a string")
		}
		if _, dup := l.servers[name]; dup {
			return nil, errAt(kn, "server %q is listed twice", name)
		}
		if servers != nil && !known[name] {
			return nil, errAt(kn, "server %q is not in the configuration (servers[].name: %s): remove it with mcpgate approve, or check the server's name",
				name, strings.Join(servers, ", "))
		}
		s, err := parseServer(name, vn)
		if err != nil {
			return nil, err
		}
		l.servers[name] = s
	}
	return l, nil
}

func parseServer(server string, n *yaml.Node) (*ServerLock, error) {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	fields, err := fieldsOf(n, fmt.Sprintf("server %q", server), names...)
	if err != nil {
		return nil, err
	}
	s := &ServerLock{entries: map[Key]Entry{}}
	for _, kind := range Kinds {
		kn := fields[string(kind)]
		if kn == nil {
			continue
		}
		if kn.Kind != yaml.MappingNode {
			return nil, errAt(kn, "server %q: %s must be a mapping of names to items", server, kind)
		}
		for i := 0; i < len(kn.Content); i += 2 {
			nameNode, item := kn.Content[i], kn.Content[i+1]
			name := nameNode.Value
			if nameNode.Kind != yaml.ScalarNode || name == "" {
				return nil, errAt(nameNode, "server %q: a %s's name must be a string", server, kind.Singular())
			}
			k := Key{kind, name}
			if _, dup := s.entries[k]; dup {
				return nil, errAt(nameNode, "server %q: %s %q is listed twice", server, kind.Singular(), name)
			}
			e, err := parseEntry(server, k, item)
			if err != nil {
				return nil, err
			}
			s.entries[k] = e
		}
	}
	return s, nil
}

func parseEntry(server string, k Key, n *yaml.Node) (Entry, error) {
	what := fmt.Sprintf("server %q: %s %q", server, k.Kind.Singular(), k.Name)
	fields, err := fieldsOf(n, what, "digest", "definition")
	if err != nil {
		return Entry{}, err
	}
	dn, def := fields["digest"], fields["definition"]
	if dn == nil || def == nil {
		return Entry{}, errAt(n, "%s: needs both digest and definition", what)
	}
	if dn.Kind != yaml.ScalarNode || !strings.HasPrefix(dn.Value, DigestPrefix) {
		return Entry{}, errAt(dn, "%s: digest must be %s<hex>", what, DigestPrefix)
	}
	var buf bytes.Buffer
	if err := jsonOf(&buf, def); err != nil {
		return Entry{}, err
	}
	canon, err := definitionOf(k.Kind, json.RawMessage(buf.Bytes()))
	if err != nil {
		return Entry{}, errAt(def, "%s: %v", what, err)
	}
	var fieldsOfDef map[string]any
	_ = json.Unmarshal(canon, &fieldsOfDef)
	if got, _ := fieldsOfDef[k.Kind.nameField()].(string); got != k.Name {
		return Entry{}, errAt(def, "%s: the definition's %s is %q, not the name it is listed under", what, k.Kind.nameField(), got)
	}
	if d := digestOf(canon); d != dn.Value {
		return Entry{}, errAt(dn, "%s: the digest does not match the definition (edited by hand?): run mcpgate approve to approve what the server lists", what)
	}
	return Entry{Digest: dn.Value, Definition: canon}, nil
}

// fieldsOf reads a mapping with the given keys only, each at most once.
func fieldsOf(n *yaml.Node, what string, keys ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, "%s must be a mapping", what)
	}
	out := map[string]*yaml.Node{}
	for i := 0; i < len(n.Content); i += 2 {
		kn := n.Content[i]
		if kn.Kind != yaml.ScalarNode || !slices.Contains(keys, kn.Value) {
			return nil, errAt(kn, "%s: unknown key %q (known keys: %s)", what, kn.Value, strings.Join(keys, ", "))
		}
		if _, dup := out[kn.Value]; dup {
			return nil, errAt(kn, "%s: key %q is given twice", what, kn.Value)
		}
		out[kn.Value] = n.Content[i+1]
	}
	return out, nil
}

// jsonOf writes the JSON of a definition's YAML. Only what Marshal writes
// is read: mappings with string keys, sequences, strings, JSON numbers,
// booleans and null; no anchors, aliases, merge keys or other tags.
func jsonOf(buf *bytes.Buffer, n *yaml.Node) error {
	if n.Anchor != "" {
		return errAt(n, "anchors are not allowed in a definition")
	}
	switch n.Kind {
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
				return errAt(k, "a definition's keys must be strings")
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k.Value)
			buf.WriteByte(':')
			if err := jsonOf(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := jsonOf(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			writeString(buf, n.Value)
		case "!!int", "!!float":
			if !json.Valid([]byte(n.Value)) {
				return errAt(n, "%q is not a JSON number", n.Value)
			}
			buf.WriteString(n.Value)
		case "!!bool":
			switch n.Value {
			case "true", "false":
				buf.WriteString(n.Value)
			default:
				return errAt(n, "%q is not a JSON boolean (true or false)", n.Value)
			}
		case "!!null":
			buf.WriteString("null")
		default:
			return errAt(n, "tag %s is not allowed in a definition", n.ShortTag())
		}
	default:
		return errAt(n, "aliases are not allowed in a definition")
	}
	return nil
}

func writeString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}
