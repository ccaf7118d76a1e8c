package gateway

import (
	"bufio"
	"bytes"
)

// The gateway reads server-sent events in three places: the event streams of
// upstream calls, rewritten as they pass (tag.go) or relayed by the fast
// path (fastcall.go), and the response of an in-process initialize
// (inprocess.go). All read fields with these rules.

// sseData returns the value of a data field, given a line of an event
// stream without its line ending, and whether the line is one.
func sseData(line []byte) ([]byte, bool) {
	d, ok := bytes.CutPrefix(line, []byte("data:"))
	return bytes.TrimPrefix(d, []byte(" ")), ok
}

// sseField returns the value of line when it is the field name ("id: 7"
// is id's, with one space after the colon dropped).
func sseField(line []byte, name string) ([]byte, bool) {
	v, ok := bytes.CutPrefix(line, []byte(name))
	if !ok || len(v) == 0 || v[0] != ':' {
		return nil, false
	}
	return bytes.TrimPrefix(v[1:], []byte(" ")), true
}

// sseLine trims the line ending of a line read from an event stream.
func sseLine(line []byte) []byte { return bytes.TrimRight(line, "\r\n") }

// firstSSEData returns the data of the first event of stream that has any
// (its data lines joined by newlines), or nil. A priming event (an id and
// empty data) has none.
func firstSSEData(stream []byte) []byte {
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Buffer(nil, len(stream)+1)
	var data [][]byte
	for sc.Scan() {
		line := sseLine(sc.Bytes())
		if len(line) == 0 && len(data) > 0 {
			if len(data) > 1 || len(data[0]) > 0 {
				break
			}
			data = data[:0]
		}
		if d, ok := sseData(line); ok {
			data = append(data, d)
		}
	}
	if len(data) == 0 {
		return nil
	}
	return bytes.Join(data, []byte("\n"))
}
