package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
)

// maxSecretFileSize bounds what value_from_file reads.
const maxSecretFileSize = 64 << 10

// redacted replaces literal header values in printed and logged output.
const redacted = "[REDACTED]"

// Header is an extra HTTP header sent to one upstream. Exactly one of
// Value, ValueFromEnv and ValueFromFile is set. The value is resolved
// with [Header.Resolve] at each upstream (re)connect, so rotated
// environment variables and files take effect without a reload.
//
// A Header never prints or logs its literal Value: String, GoString,
// LogValue and MarshalJSON redact it.
type Header struct {
	// Name is the header field name, e.g. "X-Api-Key" or "Authorization".
	// It is required; connection-level headers and the MCP transport
	// headers are managed by the gateway and refused.
	Name string `yaml:"name"`

	// Value is a literal value, meant for non-secret values.
	Value string `yaml:"value,omitempty"`

	// ValueFromEnv names an environment variable holding the value. It
	// must be set (and not empty) when the configuration is provisioned.
	ValueFromEnv string `yaml:"value_from_env,omitempty"`

	// ValueFromFile is the path of a regular file holding the value, re-read
	// at each use; one trailing newline sequence is removed. It must be
	// readable when the configuration is provisioned.
	ValueFromFile string `yaml:"value_from_file,omitempty"`
}

// Resolve returns the header value, reading the environment or the file
// now. Errors name the header and its source, never the value.
func (h Header) Resolve() (string, error) {
	v, err := h.resolve()
	if err != nil {
		return "", fmt.Errorf("config: resolve header %q: %w", h.Name, err)
	}
	return v, nil
}

// resolve returns the value or an error worded for a provisioning problem.
func (h Header) resolve() (string, error) {
	var v string
	var err error
	switch {
	case h.sources() != 1:
		return "", errHeaderSources
	case h.ValueFromEnv != "":
		v, err = readEnv(h.ValueFromEnv)
	case h.ValueFromFile != "":
		v, err = readSecretFile(h.ValueFromFile)
	default:
		v = h.Value
	}
	if err != nil {
		return "", err
	}
	if hasControlChars(v) {
		return "", errControlChars
	}
	return v, nil
}

var (
	errHeaderSources = errors.New("set exactly one of value, value_from_env, value_from_file")
	errControlChars  = errors.New("value contains control characters: header values must be a single line")
)

// sources counts how many of the value sources are set.
func (h Header) sources() int { return countSet(h.Value, h.ValueFromEnv, h.ValueFromFile) }

// countSet counts the values that are not empty.
func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}

// sourceKey returns the YAML key of the value source that is set.
func (h Header) sourceKey() string {
	switch {
	case h.ValueFromEnv != "":
		return "value_from_env"
	case h.ValueFromFile != "":
		return "value_from_file"
	}
	return "value"
}

func readEnv(name string) (string, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("environment variable %s is not set", name)
	}
	if v == "" {
		return "", fmt.Errorf("environment variable %s is empty", name)
	}
	return v, nil
}

func readSecretFile(path string) (string, error) {
	// Stat first: opening a FIFO or device could block or never end.
	if fi, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, unwrapPathError(err))
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("cannot read %q: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFileSize+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, unwrapPathError(err))
	}
	if len(data) > maxSecretFileSize {
		return "", fmt.Errorf("%q is larger than %d bytes", path, maxSecretFileSize)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if v == "" {
		return "", fmt.Errorf("%q is empty", path)
	}
	return v, nil
}

// unwrapPathError drops the operation and path that *os.PathError repeats.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// hasControlChars reports whether v holds characters that would break
// or inject into an HTTP header (CR, LF, NUL and other controls but tab).
func hasControlChars(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}

// ResolveHeaders resolves every header of the server
// ([Server.UpstreamHeaders]) into an http.Header.
func (s *Server) ResolveHeaders() (http.Header, error) {
	hs := s.UpstreamHeaders()
	hdr := make(http.Header, len(hs))
	for _, h := range hs {
		v, err := h.resolve()
		if err != nil {
			return nil, fmt.Errorf("config: server %q: resolve header %q: %w", s.Name, h.Name, err)
		}
		hdr.Add(h.Name, v)
	}
	return hdr, nil
}

// String describes the header without its literal value.
func (h Header) String() string {
	switch h.sourceKey() {
	case "value_from_env":
		return h.Name + ": value_from_env=" + h.ValueFromEnv
	case "value_from_file":
		return h.Name + ": value_from_file=" + h.ValueFromFile
	}
	return h.Name + ": value=" + redacted
}

// GoString keeps %#v from printing the literal value.
func (h Header) GoString() string { return "config.Header{" + h.String() + "}" }

// LogValue implements slog.LogValuer without the literal value.
func (h Header) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("name", h.Name)}
	switch k := h.sourceKey(); k {
	case "value_from_env":
		attrs = append(attrs, slog.String(k, h.ValueFromEnv))
	case "value_from_file":
		attrs = append(attrs, slog.String(k, h.ValueFromFile))
	default:
		attrs = append(attrs, slog.String(k, redacted))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON encodes the header with a literal value redacted, so a
// configuration dumped as JSON (for example by a JSON log handler) does
// not leak it.
func (h Header) MarshalJSON() ([]byte, error) {
	type plain Header
	p := plain(h)
	if p.Value != "" {
		p.Value = redacted
	}
	return json.Marshal(struct {
		Name          string `json:"name"`
		Value         string `json:"value,omitempty"`
		ValueFromEnv  string `json:"value_from_env,omitempty"`
		ValueFromFile string `json:"value_from_file,omitempty"`
	}(p))
}
