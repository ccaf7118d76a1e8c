package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path, applies defaults and
// validates it. A [*ValidationError] listing every problem can be
// retrieved from the error with errors.As.
func Load(path string) (*Config, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("config: load %s: %w", path, err)
	}
	return Parse(data, path)
}

// readLimited reads at most MaxFileSize bytes, failing on larger files.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if len(data) > MaxFileSize {
		return nil, errTooLarge
	}
	return data, nil
}

var errTooLarge = fmt.Errorf("file is larger than %d bytes (1 MiB)", MaxFileSize)

// Parse decodes a YAML configuration, applies defaults and validates it.
// Source names the data (usually the file path) in error messages.
func Parse(data []byte, source string) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config: parse %s: %w", source, errTooLarge)
	}
	root, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("config: parse %s: %w", source, err)
	}
	cfg := Default()
	d := newDecoder()
	d.decode("", root, reflect.ValueOf(cfg).Elem())
	cfg.normalize()
	var validation []Problem
	if !d.exhausted() { // a partly decoded document would only add noise
		validation = cfg.problems()
	}
	if ps := d.merge(validation); len(ps) > 0 {
		return nil, fmt.Errorf("config: invalid %s:\n%w", source, &ValidationError{Problems: ps})
	}
	return cfg, nil
}

// parseDocument parses data into the mapping node of its single document.
func parseDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, errors.New("file is empty: at least the servers key is required")
	} else if err != nil {
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("file holds more than one YAML document: use a single document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	switch {
	case isNull(root):
		return nil, errors.New("file is empty: at least the servers key is required")
	case root.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("top level must be a mapping of keys, got %s", describe(root))
	}
	return root, nil
}

// merge combines decoding problems with validation problems, dropping
// validation problems about values that did not decode, and sorts them
// in document order.
func (d *decoder) merge(validation []Problem) []Problem {
	undecoded := map[string]bool{} // paths of values that did not decode
	below := map[string]bool{}     // paths with an undecoded value below
	for _, p := range d.problems {
		if p.undecoded {
			undecoded[p.Path] = true
			for _, a := range ancestors(p.Path) {
				below[a] = a != p.Path || below[a]
			}
		}
	}
	all := slices.Clone(d.problems)
	for _, p := range validation {
		if below[p.Path] || slices.ContainsFunc(ancestors(p.Path), func(a string) bool { return undecoded[a] }) {
			continue
		}
		all = append(all, located{p, d.lineOf(p.Path), false})
	}
	slices.SortStableFunc(all, func(a, b located) int { return a.line - b.line })
	ps := make([]Problem, len(all))
	for i, p := range all {
		ps[i] = p.Problem
	}
	return ps
}

// lineOf returns the line of path or of its nearest ancestor in the
// document, or 0 when none of them appears in it.
func (d *decoder) lineOf(path string) int {
	for _, a := range ancestors(path) {
		if line, ok := d.lines[a]; ok {
			return line
		}
	}
	return 0
}

// ancestors returns path followed by its ancestors, nearest first:
// "a.b[1].c", "a.b[1]", "a.b", "a".
func ancestors(path string) []string {
	var as []string
	for path != "" {
		as = append(as, path)
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return as
}
