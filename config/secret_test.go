package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const literal = "s3cr3t-literal-value"

func TestHeaderNeverPrintsLiteral(t *testing.T) {
	t.Parallel()
	h := Header{Name: "X-Api-Key", Value: literal}
	s := Server{Name: "a", Headers: []Header{h}}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("m", "header", h, "server", s)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "header", h, "server", s)
	jsonOut, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"Sprint":      fmt.Sprint(h),
		"%+v":         fmt.Sprintf("%+v", h),
		"%#v":         fmt.Sprintf("%#v", h),
		"server %+v":  fmt.Sprintf("%+v", s),
		"server %#v":  fmt.Sprintf("%#v", s),
		"slog text":   text.String(),
		"slog json":   js.String(),
		"json":        string(jsonOut),
		"String":      h.String(),
		"headers %v":  fmt.Sprint([]Header{h}),
		"pointer %+v": fmt.Sprintf("%+v", &h),
	}
	for name, out := range outputs {
		if strings.Contains(out, literal) {
			t.Errorf("%s leaks the literal value: %s", name, out)
		}
		if !strings.Contains(out, "X-Api-Key") {
			t.Errorf("%s does not name the header: %s", name, out)
		}
	}
	if !strings.Contains(text.String(), "header.value="+redacted) {
		t.Errorf("slog text output lacks the redacted value: %s", text.String())
	}
}

func TestHeaderStringSources(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		h    Header
		want string
	}{
		"literal": {Header{Name: "X", Value: "v"}, "X: value=[REDACTED]"},
		"env":     {Header{Name: "X", ValueFromEnv: "E"}, "X: value_from_env=E"},
		"file":    {Header{Name: "X", ValueFromFile: "/f"}, "X: value_from_file=/f"},
	}
	for name, tc := range tests {
		if got := tc.h.String(); got != tc.want {
			t.Errorf("%s: String() = %q, want %q", name, got, tc.want)
		}
	}
}

func TestResolveFromEnv(t *testing.T) {
	h := Header{Name: "X-Api-Key", ValueFromEnv: "MCPGATE_TEST_KEY"}
	t.Setenv("MCPGATE_TEST_KEY", "first")
	if v, err := h.Resolve(); err != nil || v != "first" {
		t.Fatalf("Resolve() = %q, %v; want first", v, err)
	}
	t.Setenv("MCPGATE_TEST_KEY", "second")
	if v, err := h.Resolve(); err != nil || v != "second" {
		t.Fatalf("Resolve() after change = %q, %v; want second", v, err)
	}
	t.Setenv("MCPGATE_TEST_KEY", "bad\nvalue")
	_, err := h.Resolve()
	if err == nil || strings.Contains(err.Error(), "bad") || !strings.Contains(err.Error(), `config: resolve header "X-Api-Key": value contains control characters`) {
		t.Errorf("Resolve() with newline = %v", err)
	}
	os.Unsetenv("MCPGATE_TEST_KEY") // restored by t.Setenv's cleanup
	if _, err := h.Resolve(); err == nil || !strings.Contains(err.Error(), "environment variable MCPGATE_TEST_KEY is not set") {
		t.Errorf("Resolve() unset = %v", err)
	}
}

func TestResolveFromFileRereads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "key")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := Header{Name: "Authorization", ValueFromFile: path}
	tests := []struct{ content, want, wantErr string }{
		{"Bearer one\n", "Bearer one", ""},
		{"Bearer two\r\n", "Bearer two", ""},
		{"Bearer three", "Bearer three", ""},
		{"\n", "", "is empty"},
		{"a\nb\n", "", "value contains control characters"},
		{strings.Repeat("x", maxSecretFileSize+1), "", "is larger than"},
	}
	for _, tc := range tests {
		write(tc.content)
		v, err := h.Resolve()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("content %.20q: got %q, %v; want error %q", tc.content, v, err, tc.wantErr)
			}
			continue
		}
		if err != nil || v != tc.want {
			t.Errorf("content %.20q: got %q, %v; want %q", tc.content, v, err, tc.want)
		}
	}
}

func TestResolveHeaders(t *testing.T) {
	t.Setenv("MCPGATE_TEST_TOKEN", "tok")
	s := &Server{Name: "notes", Headers: []Header{
		{Name: "x-client", Value: "mcpgate"},
		{Name: "Authorization", ValueFromEnv: "MCPGATE_TEST_TOKEN"},
	}}
	got, err := s.ResolveHeaders()
	if err != nil {
		t.Fatal(err)
	}
	want := http.Header{"X-Client": {"mcpgate"}, "Authorization": {"tok"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ResolveHeaders() mismatch (-want +got):\n%s", diff)
	}
	s.Headers = append(s.Headers, Header{Name: "X-Missing", ValueFromEnv: "MCPGATE_TEST_UNSET_9F2C"})
	_, err = s.ResolveHeaders()
	wantErr := `config: server "notes": resolve header "X-Missing": environment variable MCPGATE_TEST_UNSET_9F2C is not set`
	if err == nil || err.Error() != wantErr {
		t.Errorf("ResolveHeaders() error = %v, want %s", err, wantErr)
	}
}

func TestResolveRefusesFIFO(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifo(path); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := Header{Name: "X", ValueFromFile: path}.Resolve()
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Resolve() on a FIFO = %v, want not a regular file", err)
	}
}
