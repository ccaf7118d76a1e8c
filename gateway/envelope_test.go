package gateway

import (
	"encoding/json"
	"testing"
)

func TestParseEnvelope(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		body, id, method, params string
	}{
		"request":      {`{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x"}}`, `"a"`, "tools/call", `{"name":"x"}`},
		"notification": {`{"jsonrpc":"2.0","method":"notifications/initialized"}`, "", "notifications/initialized", ""},
		"batch":        {`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, "", "", ""},
		"not JSON":     {`{"jsonrpc":`, "", "", ""},
		"empty":        {``, "", "", ""},
		"method typed": {`{"jsonrpc":"2.0","id":1,"method":7}`, "", "", ""},
	} {
		e := parseEnvelope([]byte(tc.body))
		if string(e.Body) != tc.body || string(e.ID) != tc.id || e.Method != tc.method || string(e.Params) != tc.params {
			t.Errorf("%s: envelope = {id %s, method %q, params %s}, want {id %s, method %q, params %s}",
				name, e.ID, e.Method, e.Params, tc.id, tc.method, tc.params)
		}
	}
}

// FuzzParseEnvelope: any body gives an envelope that keeps the body, and
// a method only for a body that is a JSON object naming one.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"method":"\u0000"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e := parseEnvelope(body)
		if string(e.Body) != string(body) {
			t.Fatal("the envelope lost the body")
		}
		var obj map[string]json.RawMessage
		if e.Method != "" && json.Unmarshal(body, &obj) != nil {
			t.Fatalf("method %q from a body that is not a JSON object: %q", e.Method, body)
		}
	})
}
