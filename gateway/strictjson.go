package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// A JSON document can mean one thing to the policy and another to an
// upstream: with duplicate keys ({"id":"x","id":"y"}) Go keeps the last
// value and other parsers the first, and Go (like some others) matches
// struct fields case-insensitively ({"ID":"x"} fills a field "id"); with
// invalid UTF-8, decoders substitute U+FFFD or pass the bytes on. The
// gateway forwards what the client sent byte for byte, so it refuses such
// requests instead: what the policy decoded is then what every parser
// reads.

// errAmbiguousJSON is the class of the errors checkStrictJSON returns.
var errAmbiguousJSON = errors.New("ambiguous JSON")

// maxJSONDepth bounds nesting, as encoding/json does.
const maxJSONDepth = 10000

// checkStrictJSON reports a duplicate object key (equal, or equal when case
// is folded) or a string that is not valid UTF-8 anywhere in data, wrapped
// in errAmbiguousJSON, and anything else it cannot read, data after the
// value included, as errSyntax: what it has not read it has not checked,
// so the request is refused rather than left to a parser that might accept
// it.
func checkStrictJSON(data []byte) error {
	s := &strictScanner{data: data}
	s.value(0)
	if s.err == nil {
		s.skipSpace()
		if s.pos != len(s.data) {
			s.fail(errSyntax)
		}
	}
	return s.err
}

// errSyntax is the error of a body that is not one JSON value.
var errSyntax = errors.New("not a JSON value")

type strictScanner struct {
	data []byte
	pos  int
	err  error
}

func (s *strictScanner) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *strictScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *strictScanner) value(depth int) {
	s.skipSpace()
	if s.err != nil || s.pos >= len(s.data) {
		s.fail(errSyntax)
		return
	}
	if depth > maxJSONDepth {
		s.fail(errSyntax)
		return
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		s.object(depth)
	case c == '[':
		s.array(depth)
	case c == '"':
		s.str()
	default:
		s.scalar()
	}
}

func (s *strictScanner) object(depth int) {
	s.pos++                     // {
	seen := map[string]string{} // folded key → key
	for first := true; s.err == nil; first = false {
		s.skipSpace()
		if s.pos < len(s.data) && s.data[s.pos] == '}' && first {
			s.pos++
			return
		}
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			s.fail(errSyntax)
			return
		}
		key := s.str()
		if s.err != nil {
			return
		}
		folded := strings.ToLower(strings.ToUpper(key))
		if prev, dup := seen[folded]; dup {
			if prev == key {
				s.fail(fmt.Errorf("%w: key %q appears twice in one object", errAmbiguousJSON, short(key)))
			} else {
				s.fail(fmt.Errorf("%w: keys %q and %q of one object differ only in case", errAmbiguousJSON, short(prev), short(key)))
			}
			return
		}
		seen[folded] = key
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			s.fail(errSyntax)
			return
		}
		s.pos++
		s.value(depth + 1)
		s.skipSpace()
		if s.pos >= len(s.data) {
			s.fail(errSyntax)
			return
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return
		default:
			s.fail(errSyntax)
			return
		}
	}
}

func (s *strictScanner) array(depth int) {
	s.pos++ // [
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return
	}
	for s.err == nil {
		s.value(depth + 1)
		s.skipSpace()
		if s.err != nil || s.pos >= len(s.data) {
			s.fail(errSyntax)
			return
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return
		default:
			s.fail(errSyntax)
			return
		}
	}
}

// str scans a string and returns its value (unescaped only when it has
// escapes; the value is needed for keys).
func (s *strictScanner) str() string {
	start := s.pos
	s.pos++ // "
	escaped := false
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			raw := s.data[start:s.pos]
			if !utf8.Valid(raw) {
				s.fail(fmt.Errorf("%w: a string is not valid UTF-8", errAmbiguousJSON))
				return ""
			}
			if !escaped {
				return string(raw[1 : len(raw)-1])
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				s.fail(errSyntax)
				return ""
			}
			if strings.Count(v, "\uFFFD") > replacementChars(raw) {
				// an unpaired surrogate escape, decoded as U+FFFD
				s.fail(fmt.Errorf("%w: a string has an unpaired surrogate escape", errAmbiguousJSON))
				return ""
			}
			return v
		case c == '\\':
			escaped = true
			s.pos += 2
		case c < 0x20:
			s.fail(errSyntax)
			return ""
		default:
			s.pos++
		}
	}
	s.fail(errSyntax)
	return ""
}

// scalar skips a number, true, false or null (their syntax is the SDK's to
// check).
func (s *strictScanner) scalar() {
	start := s.pos
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if s.pos == start {
				s.fail(errSyntax)
			}
			return
		}
		s.pos++
	}
	if s.pos == start {
		s.fail(errSyntax)
	}
}

// replacementChars counts the U+FFFD a raw JSON string means to contain:
// literally or as an escape.
func replacementChars(raw []byte) int {
	n := bytes.Count(raw, []byte("\uFFFD"))
	for i := 0; i+6 <= len(raw); i++ {
		if raw[i] == '\\' {
			if raw[i+1] == 'u' && strings.EqualFold(string(raw[i+2:i+6]), "fffd") {
				n++
			}
			i++ // skip the escaped character
		}
	}
	return n
}

// short keeps error messages small whatever the client sent.
func short(key string) string {
	if len(key) <= 64 {
		return key
	}
	return key[:61] + "..."
}
