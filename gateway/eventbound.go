package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/mcpgate/mcpgate/config"
)

// eventBound bounds each event of an upstream's event stream read by the
// SDK's client (the SDK's path) to limit bytes, like boundedBody, but
// without failing the stream: an event is handed on only once it is whole,
// and one over the bound is replaced, in its place, by a JSON-RPC error
// naming the bound, for the call it belongs to. On the stream of a POST
// that is the POSTed request (any event of its stream belongs to it), and
// the stream ends there: the call failed, saying why, and the session and
// the other calls on it go on (a failed read would end the stream, and the
// SDK would answer the call "request terminated without response", or
// resume it, be sent the same event again, and at last fail the whole
// session). On a GET stream (the standalone stream, a call's stream
// resumed, an HTTP+SSE upstream's stream) the event is the answer of the
// request whose id it starts with, when it starts as a response does; an
// event that cannot be told is dropped, and logged. Either way the rest of
// the over-large event is skipped, never held.
type eventBound struct {
	body  io.ReadCloser
	limit int
	// callID reads the POSTed request's id (nil when it has none); nil
	// on a GET stream. Read only for an event over the bound: the
	// request's body is not parsed again for every stream.
	callID func() json.RawMessage
	server string
	log    *slog.Logger

	buf      []byte // what was read from body and not yet looked at
	event    []byte // the current event, held until its blank line
	out      []byte // whole events, ready for the reader
	blank    bool   // the current line is blank so far (only \r)
	skipping bool   // skipping the rest of an over-large event
	ended    bool   // the stream ends after out (a POST's call failed)
	err      error  // body's read error, returned after out
}

// keptEventCap is the largest event buffer kept between events.
const keptEventCap = 64 << 10

func newEventBound(body io.ReadCloser, limit int, callID func() json.RawMessage, server string, log *slog.Logger) *eventBound {
	if log == nil {
		log = slog.Default()
	}
	return &eventBound{body: body, limit: limit, callID: callID, server: server, log: log, blank: true}
}

func (b *eventBound) Close() error { return b.body.Close() }

func (b *eventBound) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		switch {
		case b.ended:
			return 0, io.EOF
		case b.err != nil:
			// An event cut short by the end of the stream goes on as it
			// is: the SDK reads what a stream ended on as it always does.
			if len(b.event) > 0 {
				b.out, b.event = append(b.out, b.event...), b.event[:0]
				continue
			}
			return 0, b.err
		}
		if cap(b.buf) == 0 {
			b.buf = make([]byte, 32<<10)
		}
		n, err := b.body.Read(b.buf[:cap(b.buf)])
		b.scan(b.buf[:n])
		if err != nil {
			b.err = err
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	if len(b.out) == 0 {
		b.out = b.out[:0:0] // do not keep a large event's bytes
	}
	return n, nil
}

// scan takes the bytes read into the current event, line by line.
func (b *eventBound) scan(data []byte) {
	for len(data) > 0 && !b.ended {
		line := data
		nl := bytes.IndexByte(data, '\n')
		if nl >= 0 {
			line, data = data[:nl+1], data[nl+1:]
		} else {
			data = nil
		}
		blankSoFar := b.blank && len(bytes.Trim(line, "\r\n")) == 0
		if nl >= 0 {
			b.blank = true // the next line starts
		} else {
			b.blank = blankSoFar
		}
		if b.skipping {
			if nl >= 0 && blankSoFar {
				b.skipping = false // the over-large event is over
			}
			continue
		}
		b.event = append(b.event, line...)
		switch {
		case nl >= 0 && blankSoFar: // a blank line: the event is whole
			b.out = append(b.out, b.event...)
			b.event = b.event[:0]
			if cap(b.event) > keptEventCap {
				b.event = nil // a large event's bytes are not kept for the stream's life
			}
		case len(b.event) > b.limit:
			b.overflow()
		}
	}
}

// overflow replaces the current event, over the bound, by an error for
// the call it belongs to, if one can be told.
func (b *eventBound) overflow() {
	var id json.RawMessage
	if b.callID != nil {
		id = b.callID()
	}
	ofCall := id != nil
	if !ofCall {
		id = responseID(eventData(b.event))
	}
	b.event = b.event[:0:0]
	b.skipping = true // up to the event's blank line
	msg := fmt.Sprintf("mcpgate: server %q answered with a message over the gateway's bound of %s (limits.max_upstream_message_bytes); the call failed",
		b.server, config.ByteSize(b.limit))
	if id == nil {
		b.log.Warn("upstream event over the bound dropped: it answers no call the gateway can tell", "bound", config.ByteSize(b.limit).String())
		return
	}
	b.log.Warn("upstream call failed", "err", errAnswerTooLarge, "id", string(id))
	data, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": -32603, "message": msg}})
	b.out = append(append(append(b.out, "event: message\ndata: "...), data...), "\n\n"...)
	if ofCall {
		b.ended = true
		_ = b.body.Close() // the rest of the stream is not read
	}
}

// eventData is the data of an event's lines (as far as they go), joined
// as the SSE format joins them.
func eventData(event []byte) []byte {
	var out []byte
	first := true
	for len(event) > 0 {
		line := event
		if i := bytes.IndexByte(event, '\n'); i >= 0 {
			line, event = event[:i], event[i+1:]
		} else {
			event = nil
		}
		line = bytes.TrimRight(line, "\r")
		v, ok := bytes.CutPrefix(line, []byte("data"))
		if !ok || len(v) > 0 && v[0] != ':' {
			continue
		}
		v = bytes.TrimPrefix(bytes.TrimPrefix(v, []byte(":")), []byte(" "))
		if !first {
			out = append(out, '\n')
		}
		out, first = append(out, v...), false
	}
	return out
}

// responseID is the id of the JSON-RPC response prefix starts: its
// members are read in order up to "result" or "error", and the id must
// come before (as every SDK writes it); a request, a notification, or a
// prefix that does not tell gives nil.
func responseID(prefix []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var id json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		switch key, _ := t.(string); key {
		case "id":
			if dec.Decode(&id) != nil || len(id) == 0 || (id[0] != '"' && id[0] != '-' && (id[0] < '0' || id[0] > '9')) {
				return nil
			}
		case "result", "error":
			return id
		case "method":
			return nil
		default:
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return nil
			}
		}
	}
	return nil
}
