package config

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadKeyFile(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	k2 := bytes.Repeat([]byte{0xfb}, 32) // encodes with '+', '/' or '-', '_'
	std := base64.StdEncoding.EncodeToString
	url := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name    string
		content string
		want    [][]byte
		wantErr string
	}{
		{name: "one key", content: std(k1) + "\n", want: [][]byte{k1}},
		{name: "rotation with comments", content: "# current\n" + std(k2) + "\n\n  # retiring\n" + std(k1), want: [][]byte{k2, k1}},
		{name: "url alphabet unpadded", content: url(k2), want: [][]byte{k2}},
		{name: "crlf", content: std(k1) + "\r\n" + std(k2) + "\r\n", want: [][]byte{k1, k2}},
		{name: "short key", content: std(k1[:16]), wantErr: "line 1: a key must be 32 bytes, this one is 16"},
		{name: "not base64", content: std(k1) + "\nnot*base64!\n", wantErr: "line 2: not valid base64"},
		{name: "only comments", content: "# nothing here\n", wantErr: "holds no key"},
		{name: "too many", content: strings.Repeat(std(k1)+"\n", 17), wantErr: "holds 17 keys; at most 16"},
		{name: "empty", content: "", wantErr: "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readKeyFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readKeyFile() error = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), std(k1)) {
					t.Errorf("error %q quotes a key", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d keys, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("key %d differs", i)
				}
			}
		})
	}
}
