package config

import (
	"strings"
	"testing"
	"time"
)

func TestByteSize(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		value   string
		want    ByteSize
		wantErr string
	}{
		"integer":      {"4194304", 4 << 20, ""},
		"bytes":        {"10B", 10, ""},
		"kib":          {"512KiB", 512 << 10, ""},
		"mib":          {"4MiB", 4 << 20, ""},
		"gib":          {"1GiB", 1 << 30, ""},
		"mb decimal":   {"1MB", 1_000_000, ""},
		"space":        {"'4 MiB'", 4 << 20, ""},
		"lower case":   {"4mib", 4 << 20, ""},
		"unknown unit": {"4 parsecs", 0, `"4 parsecs" is not a byte size`},
		"fraction":     {"1.5MiB", 0, "is not a byte size"},
		"no digits":    {"MiB", 0, "is not a byte size"},
		"overflow":     {"9223372036854775807GiB", 0, "too large"},
		"list":         {"[1]", 0, "must be a byte size"},
		"negative":     {"-1", 0, "max_request_bytes: must be greater than 0"},
		"zero":         {"0", 0, "max_request_bytes: must be greater than 0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte("max_request_bytes: "+tc.value+"\n"+minimal), "t.yaml")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || cfg.MaxRequestBytes != tc.want {
				t.Errorf("got %v, %v; want %v", cfg, err, tc.want)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	t.Parallel()
	tests := map[ByteSize]string{0: "0", 1000: "1000", 1536: "1536", 2048: "2KiB", 4 << 20: "4MiB", 3 << 30: "3GiB"}
	for in, want := range tests {
		if got := in.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(in), got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		value   string
		want    time.Duration
		wantErr string
	}{
		"seconds":     {"5s", 5 * time.Second, ""},
		"compound":    {"1h30m", 90 * time.Minute, ""},
		"zero":        {"0", 0, ""},
		"no unit":     {"30", 0, `"30" is not a duration (use e.g. 30s, 2m)`},
		"parsecs":     {"5 parsecs", 0, `servers[0].timeout: "5 parsecs" is not a duration (use e.g. 30s, 2m)`},
		"null":        {"~", 0, "servers[0].timeout: must be a duration (use e.g. 30s, 2m), got nothing (null)"},
		"mapping":     {"{a: 1}", 0, "must be a duration (use e.g. 30s, 2m), got a mapping"},
		"nonpositive": {"-1s", 0, "servers[0].timeout: must be greater than 0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte(minimal+"    timeout: "+tc.value+"\n"), "t.yaml")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if tc.want == 0 {
				if err == nil || !strings.Contains(err.Error(), "must be greater than 0") {
					t.Fatalf("timeout 0: got %v, want must be greater than 0", err)
				}
				return
			}
			if err != nil || cfg.Servers[0].Timeout.Std() != tc.want {
				t.Errorf("got %v, %v; want %v", cfg, err, tc.want)
			}
		})
	}
}
