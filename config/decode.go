package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML core tags, as returned by yaml.Node.ShortTag.
const (
	nullTag  = "!!null"
	strTag   = "!!str"
	boolTag  = "!!bool"
	intTag   = "!!int"
	floatTag = "!!float"
)

// maxNodes bounds the nodes visited while decoding, counting each alias
// expansion, so a small file cannot expand into a huge one.
const maxNodes = 100_000

// decoder walks a yaml.Node tree into a Go value by the `yaml` struct
// tags, recording a problem with its key path for every unknown key,
// duplicate key and type mismatch instead of stopping at the first.
type decoder struct {
	problems []located
	lines    map[string]int // key path -> line, to sort problems
	nodes    int            // nodes visited, see maxNodes
}

// located is a problem with the line it was found on (0 if unknown).
type located struct {
	Problem
	line      int
	undecoded bool // the value at Path was left undecoded
}

// field is a struct field decodable from a YAML key.
type field struct {
	key   string
	index int
}

func newDecoder() *decoder { return &decoder{lines: map[string]int{}} }

// exhausted reports whether decoding stopped at the node budget.
func (d *decoder) exhausted() bool { return d.nodes > maxNodes }

// fail records a value that could not be decoded.
func (d *decoder) fail(path string, n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.problems = append(d.problems, located{Problem{path, msg}, n.Line, true})
}

// badKey records an unknown or duplicate key, whose value is ignored.
func (d *decoder) badKey(path string, n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.problems = append(d.problems, located{Problem{path, msg}, n.Line, false})
}

// decode decodes n into the addressable value v.
func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value) {
	if n = d.visit(path, n); n == nil {
		return
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			d.fail(path, n, "%s", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Slice:
		d.decodeSlice(path, n, v)
	case reflect.Map:
		d.decodeMap(path, n, v)
	case reflect.Pointer:
		d.decodePointer(path, n, v)
	case reflect.String:
		d.decodeString(path, n, v)
	case reflect.Bool:
		d.decodeBool(path, n, v)
	case reflect.Int:
		d.decodeInt(path, n, v)
	default:
		panic("config: no YAML decoding for " + v.Type().String())
	}
}

// visit follows aliases and charges the node budget. It returns nil once
// the budget is spent.
func (d *decoder) visit(path string, n *yaml.Node) *yaml.Node {
	for ; n != nil; n = n.Alias {
		d.nodes++
		if d.nodes == maxNodes+1 {
			d.fail(path, n, "document expands to more than %d nodes: simplify it or use fewer aliases", maxNodes)
		}
		if d.exhausted() {
			return nil
		}
		if n.Kind != yaml.AliasNode {
			return n
		}
	}
	return nil
}

func (d *decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "must be a mapping, got %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	d.eachPair(path, n, func(key string, kp string, k, val *yaml.Node) {
		for _, f := range fields {
			if f.key == key {
				d.lines[kp] = k.Line
				d.decode(kp, val, v.Field(f.index))
				return
			}
		}
		d.badKey(kp, k, "unknown key (known keys: %s)%s", knownKeys(fields), suggest(key, fields))
	})
}

func (d *decoder) decodeMap(path string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "must be a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	d.eachPair(path, n, func(key string, kp string, _, val *yaml.Node) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(kp, val, elem)
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
	})
	v.Set(m)
}

// eachPair calls fn for each key of mapping n with a string key seen for
// the first time, reporting non-string and duplicate keys.
func (d *decoder) eachPair(path string, n *yaml.Node, fn func(key, keyPath string, k, v *yaml.Node)) {
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.visit(path, n.Content[i])
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.badKey(path, k, "keys must be strings, got %s", describe(k))
			continue
		}
		kp := joinPath(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.badKey(kp, k, "duplicate key: already defined on line %d", line)
			continue
		}
		seen[k.Value] = k.Line
		fn(k.Value, kp, k, n.Content[i+1])
	}
}

func (d *decoder) decodeSlice(path string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n, "must be a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		elem := s.Index(i)
		if def, ok := elem.Addr().Interface().(interface{ setDefaults() }); ok {
			def.setDefaults()
		}
		d.decode(path+"["+strconv.Itoa(i)+"]", item, elem)
	}
	v.Set(s)
}

// decodePointer allocates the pointed-to value; the pointer stays nil if
// the value does not decode.
func (d *decoder) decodePointer(path string, n *yaml.Node, v reflect.Value) {
	before := len(d.problems)
	p := reflect.New(v.Type().Elem())
	d.decode(path, n, p.Elem())
	if len(d.problems) == before {
		v.Set(p)
	}
}

func (d *decoder) decodeString(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != strTag {
		d.fail(path, n, "must be a string, got %s%s", describe(n), quoteHint(n))
		return
	}
	v.SetString(n.Value)
}

func (d *decoder) decodeInt(path string, n *yaml.Node, v reflect.Value) {
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || err != nil || v.OverflowInt(i) {
		d.fail(path, n, "must be a whole number, got %s", describe(n))
		return
	}
	v.SetInt(i)
}

func (d *decoder) decodeBool(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != boolTag {
		d.fail(path, n, "must be true or false, got %s", describe(n))
		return
	}
	v.SetBool(strings.EqualFold(n.Value, "true"))
}

// yamlFields lists the fields of struct type t that have a yaml tag.
func yamlFields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fs = append(fs, field{key: name, index: i})
		}
	}
	return fs
}

func knownKeys(fs []field) string {
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	return strings.Join(keys, ", ")
}

// suggest returns `: did you mean "x"?` for the known key closest to
// key when it is at most two edits away, or "".
func suggest(key string, fs []field) string {
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	return didYouMean(key, keys)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// joinPath appends key to path: "a.b" for plain keys, a["x y"] otherwise.
func joinPath(path, key string) string {
	if !isPlainKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func isPlainKey(key string) bool {
	if key == "" {
		return false
	}
	for _, c := range key {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag
}

// resolveAlias follows a bounded chain of aliases for Unmarshalers that
// are called by the yaml package directly.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; i < 100 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// describe names the kind of a node for type-error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case nullTag:
			return "nothing (null)"
		case strTag:
			return "a string"
		case boolTag:
			return "a boolean"
		case intTag, floatTag:
			return "a number"
		}
		return "a value tagged " + n.ShortTag()
	}
	return "an unexpected node"
}

// quoteHint suggests quoting for scalars YAML read as another type.
func quoteHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return " (quote it to make it a string)"
	}
	return ""
}
