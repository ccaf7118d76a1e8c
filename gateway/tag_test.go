package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func tagStream(t testing.TB, in string) (string, *pendingCall) {
	pc := &pendingCall{id: "mcpgate-1", settled: make(chan struct{}, 1)}
	b := &taggingBody{src: bufio.NewReaderSize(strings.NewReader(in), 256), closer: io.NopCloser(nil), call: pc}
	out, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(out), pc
}

func TestTaggingBody(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		in, want string
		tagged   int64
	}{
		"response untouched": {
			"id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"method\":\"x\"}}\n\n",
			"id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"method\":\"x\"}}\n\n", 0,
		},
		"progress tagged and counted": {
			"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"t\",\"progress\":1}}\n\n",
			"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"_meta\":{\"dev.mcpgate/call\":\"mcpgate-1\"},\"progress\":1,\"progressToken\":\"t\"}}\n\n", 1,
		},
		"elicitation tagged, not counted": {
			"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"elicitation/create\",\"params\":{\"_meta\":{\"k\":1}}}\n\n",
			"event: message\ndata: {\"id\":5,\"jsonrpc\":\"2.0\",\"method\":\"elicitation/create\",\"params\":{\"_meta\":{\"dev.mcpgate/call\":\"mcpgate-1\",\"k\":1}}}\n\n", 0,
		},
		"other methods untouched": {
			"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n",
			"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n", 0,
		},
		"priming event and comments kept": {
			": keepalive\nid: 0\ndata:\n\n", ": keepalive\nid: 0\ndata: \n\n", 0,
		},
		"long line copied through": {
			"data: " + strings.Repeat("x", 400) + "\n\n", "data: " + strings.Repeat("x", 400) + "\n\n", 0,
		},
		"malformed json untouched": {
			"data: {\"method\":\"notifications/progress\",\n\n", "data: {\"method\":\"notifications/progress\",\n\n", 0,
		},
		"no final blank line": {"data: {}", "data: {}\n", 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, pc := tagStream(t, tc.in)
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if pc.tagged.Load() != tc.tagged {
				t.Errorf("tagged %d, want %d", pc.tagged.Load(), tc.tagged)
			}
		})
	}
}

// FuzzTaggingBody checks that rewriting never loses or invents events: the
// stream read back has the same number of events and the same non-data lines.
func FuzzTaggingBody(f *testing.F) {
	f.Add("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n")
	f.Add("id: 1\r\ndata: {}\r\n\r\n")
	f.Add(": c\n\ndata: a\ndata: b\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		out, _ := tagStream(t, in)
		if strings.Count(in, "\n") > 0 && len(out) == 0 && len(strings.TrimSpace(in)) > 0 {
			t.Fatalf("non-empty stream %q read back empty", in)
		}
		for _, line := range strings.Split(out, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, callMetaKey) {
				var m map[string]any
				if json.Unmarshal([]byte(d), &m) != nil {
					t.Fatalf("tagged data is not JSON: %q", d)
				}
			}
		}
		if bytes.Count([]byte(strings.ReplaceAll(in, "\r", "")), []byte("\n\n")) > bytes.Count([]byte(out), []byte("\n\n")) {
			t.Fatalf("events lost:\nin  %q\nout %q", in, out)
		}
	})
}

func TestFirstSSEData(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ stream, want string }{
		"one event":          {"event: message\ndata: {\"a\":1}\n\n", `{"a":1}`},
		"crlf":               {"data: {\"a\":1}\r\n\r\n", `{"a":1}`},
		"no space":           {"data:{}\n\n", `{}`},
		"split data":         {"data: {\"a\":\ndata: 1}\n\n", "{\"a\":\n1}"},
		"first with data":    {"id: 1\n\ndata: x\n\ndata: y\n\n", "x"},
		"no data":            {": comment\n\n", ""},
		"unterminated event": {"data: x", "x"},
	} {
		if got := string(firstSSEData([]byte(tc.stream))); got != tc.want {
			t.Errorf("%s: firstSSEData = %q, want %q", name, got, tc.want)
		}
	}
}
