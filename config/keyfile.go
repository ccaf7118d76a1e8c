package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SessionKeySize is the length of a key of a key file, a session sealing
// key or a vault key: AES-256.
const SessionKeySize = 32

// maxKeys bounds the keys of a key file: one sealing key and the older
// ones still accepted during a rotation.
const maxKeys = 16

// readKeyFile reads a key file (see [Config.SessionKeyFile] and
// [Store.VaultKeyFile]): one base64-encoded (standard or URL alphabet,
// padded or not) 32-byte key per line, the first being the sealing key.
// Empty lines and lines starting with '#' are ignored. Errors name the
// line, never a key.
func readKeyFile(path string) ([][]byte, error) {
	data, err := readSecretFile(path)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("%q line %d: %v; generate a key with: head -c 32 /dev/urandom | base64", path, i+1, err)
		}
		keys = append(keys, key)
	}
	switch {
	case len(keys) == 0:
		return nil, fmt.Errorf("%q holds no key; generate one with: head -c 32 /dev/urandom | base64", path)
	case len(keys) > maxKeys:
		return nil, fmt.Errorf("%q holds %d keys; at most %d are allowed (the sealing key and the ones being retired)", path, len(keys), maxKeys)
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	var key []byte
	var err error
	if strings.ContainsAny(s, "-_") {
		key, err = base64.RawURLEncoding.DecodeString(s)
	} else {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	switch {
	case err != nil:
		return nil, errors.New("not valid base64")
	case len(key) != SessionKeySize:
		return nil, fmt.Errorf("a key must be %d bytes, this one is %d", SessionKeySize, len(key))
	}
	return key, nil
}
