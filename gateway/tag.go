package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"sync"
)

// tagRelated makes every request and notification that an upstream sends on
// the event stream answering one forwarded call carry that call's id in
// _meta[callMetaKey]. Upstream sessions are shared by many clients, and the
// stream a message arrives on is the only thing that relates it to a client;
// the SDK client does not expose it, so the gateway marks the message before
// the SDK reads it. Responses pass through untouched.
func tagRelated(ctx context.Context, resp *http.Response) *http.Response {
	pc, ok := ctx.Value(pendingCallKey{}).(*pendingCall)
	if !ok || pc.fast {
		// The fast path reads the stream itself: it knows the call.
		return resp
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "text/event-stream" {
		return resp
	}
	src := readerPool.Get().(*bufio.Reader)
	src.Reset(resp.Body)
	resp.Body = &taggingBody{src: src, closer: resp.Body, call: pc}
	return resp
}

// readerPool recycles the stream readers: one is needed per forwarded call.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, tagBufferSize) }}

// taggingBody rewrites an SSE stream one event at a time. Lines longer than
// its buffer (large results) are copied through without being parsed.
type taggingBody struct {
	src     *bufio.Reader
	closer  io.Closer
	call    *pendingCall
	mu      sync.Mutex // Close may race a Read blocked in the network
	out     bytes.Buffer
	event   bytes.Buffer
	rawLine bool // copying a long line through until its end
	err     error
}

const tagBufferSize = 64 << 10

func (b *taggingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.out.Len() == 0 && b.err == nil {
		b.err = b.nextEvent()
	}
	if b.out.Len() > 0 {
		return b.out.Read(p)
	}
	return 0, b.err
}

// Close closes the stream. The SDK reads a stream from one goroutine and
// closes it when done, so the reader can go back to the pool here.
func (b *taggingBody) Close() error {
	err := b.closer.Close() // first: it unblocks a Read waiting on the network
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.src != nil {
		b.src.Reset(nil)
		readerPool.Put(b.src)
		b.src = nil
		b.err = io.ErrClosedPipe
	}
	return err
}

// nextEvent reads lines up to and including the blank line that ends an
// event and appends the (possibly rewritten) event to out.
func (b *taggingBody) nextEvent() error {
	b.event.Reset()
	var data [][]byte
	for {
		line, err := b.src.ReadSlice('\n')
		if b.rawLine || err == bufio.ErrBufferFull {
			b.flush(data, false)
			b.out.Write(line)
			b.rawLine = err == bufio.ErrBufferFull
			if err == bufio.ErrBufferFull {
				err = nil
			}
			return err
		}
		content := sseLine(line)
		if len(content) == 0 {
			b.flush(data, err == nil)
			return err
		}
		if d, ok := sseData(content); ok {
			data = append(data, bytes.Clone(d))
		} else {
			b.event.Write(content)
			b.event.WriteByte('\n')
		}
		if err != nil {
			b.flush(data, false)
			return err
		}
	}
}

func (b *taggingBody) flush(data [][]byte, blank bool) {
	b.out.Write(b.event.Bytes())
	if len(data) > 0 {
		msg := bytes.Join(data, []byte("\n"))
		if tagged, counted, ok := tagMessage(msg, b.call.id); ok {
			msg = tagged
			if counted {
				b.call.tagged.Add(1)
			}
		}
		for _, l := range bytes.Split(msg, []byte("\n")) {
			b.out.WriteString("data: ")
			b.out.Write(l)
			b.out.WriteByte('\n')
		}
	}
	if blank {
		b.out.WriteByte('\n')
	}
}

// relayedMethods are the messages an upstream sends during a call that the
// gateway relays to the calling client; counted says which are
// notifications the call must wait for (see pendingCall).
var relayedMethods = map[string]bool{
	"notifications/progress": true,
	"notifications/message":  true,
	"elicitation/create":     false,
	"sampling/createMessage": false,
	"roots/list":             false,
}

// tagMessage adds the call tag to the params._meta of a JSON-RPC request or
// notification the gateway relays. It reports ok false for anything else,
// which stays as it was.
func tagMessage(msg []byte, tag string) (tagged []byte, counted, ok bool) {
	if !bytes.Contains(msg, []byte(`"method"`)) {
		return nil, false, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(msg, &m) != nil {
		return nil, false, false
	}
	var method string
	if json.Unmarshal(m["method"], &method) != nil {
		return nil, false, false
	}
	counted, relayed := relayedMethods[method]
	if !relayed {
		return nil, false, false
	}
	var params map[string]json.RawMessage
	if p := m["params"]; len(p) > 0 && json.Unmarshal(p, &params) != nil {
		return nil, false, false
	}
	if params == nil {
		params = map[string]json.RawMessage{}
	}
	var meta map[string]any
	if raw := params["_meta"]; len(raw) > 0 && json.Unmarshal(raw, &meta) != nil {
		return nil, false, false
	}
	if meta == nil {
		meta = map[string]any{}
	}
	meta[callMetaKey] = tag
	params["_meta"] = mustJSON(meta)
	m["params"] = mustJSON(params)
	return mustJSON(m), counted, true
}
