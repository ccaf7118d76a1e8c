package sealbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpenRotation(t *testing.T) {
	t.Parallel()
	old, err := New([][]byte{key(1)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := New([][]byte{key(2), key(1)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("where")
	sealed, err := old.Seal([]byte("hello"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len("hello")+old.Overhead() {
		t.Errorf("sealed is %d bytes, want %d", len(sealed), len("hello")+old.Overhead())
	}
	for name, b := range map[string]*Box{"sealer": old, "rotated ring": rotated} {
		if got, err := b.Open(sealed, ad); err != nil || string(got) != "hello" {
			t.Errorf("%s: Open = %q, %v", name, got, err)
		}
	}
	again, _ := old.Seal([]byte("hello"), ad)
	if bytes.Equal(again, sealed) {
		t.Error("sealing twice gave the same bytes: the nonce is not random")
	}
	byNew, _ := rotated.Seal([]byte("hello"), ad)
	if _, err := old.Open(byNew, ad); !errors.Is(err, ErrInvalid) {
		t.Errorf("a ring without the sealing key opened: %v", err)
	}
	if rotated.SealingKeyID() != rotated.KeyID(key(2)) || rotated.SealingKeyID() == old.SealingKeyID() {
		t.Error("the sealing key id is not the first key's")
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	b, _ := New([][]byte{key(1)}, "test")
	otherLabel, _ := New([][]byte{key(1)}, "other")
	ad := []byte("ad")
	sealed, _ := b.Seal([]byte("plaintext"), ad)
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 1
		return c
	}
	cases := map[string]struct {
		box    *Box
		sealed []byte
		ad     []byte
	}{
		"other additional data": {b, sealed, []byte("ad2")},
		"no additional data":    {b, sealed, nil},
		"same key, other label": {otherLabel, sealed, ad},
		"format flipped":        {b, flip(0), ad},
		"key id flipped":        {b, flip(1), ad},
		"nonce flipped":         {b, flip(1 + kidLen), ad},
		"ciphertext flipped":    {b, flip(headerLen), ad},
		"tag flipped":           {b, flip(len(sealed) - 1), ad},
		"truncated":             {b, sealed[:len(sealed)-1], ad},
		"header only":           {b, sealed[:headerLen], ad},
		"empty":                 {b, nil, ad},
	}
	for name, tc := range cases {
		if _, err := tc.box.Open(tc.sealed, tc.ad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Open = %v, want ErrInvalid", name, err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	for name, keys := range map[string][][]byte{
		"no key":     nil,
		"short key":  {key(1)[:16]},
		"second bad": {key(1), make([]byte, 31)},
	} {
		if _, err := New(keys, "test"); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestLayout pins the sealed layout: the gateway's sealed session ids,
// already in clients' hands, must keep opening after an upgrade.
func TestLayout(t *testing.T) {
	t.Parallel()
	b, _ := New([][]byte{key(3)}, "session")
	ad := []byte("mcpgate session\x00https://mcp.example.com/mcp")
	sealed, _ := b.Seal([]byte("{}"), ad)
	h := sha256.Sum256(append([]byte("mcpgate session key id\x00"), key(3)...))
	if sealed[0] != 1 || !bytes.Equal(sealed[1:5], h[:4]) {
		t.Fatalf("header = %x, want format 1 and key id %x", sealed[:5], h[:4])
	}
	block, _ := aes.NewCipher(key(3))
	aead, _ := cipher.NewGCM(block)
	plain, err := aead.Open(nil, sealed[5:17], sealed[17:], append(bytes.Clone(sealed[:17]), ad...))
	if err != nil || string(plain) != "{}" {
		t.Errorf("plain AES-GCM over the documented layout = %q, %v", plain, err)
	}
}

func FuzzOpen(f *testing.F) {
	b, _ := New([][]byte{key(5)}, "fuzz")
	s, _ := b.Seal([]byte("x"), nil)
	f.Add(bytes.Clone(s))
	f.Add([]byte{1, 0, 0, 0, 0})
	// Fuzz workers build their own Box and seal again (another nonce), so
	// the property is on the plaintext: only "x" was ever sealed.
	f.Fuzz(func(t *testing.T, in []byte) {
		if p, err := b.Open(in, nil); err == nil && string(p) != "x" {
			t.Errorf("opened forged input to %q", p)
		}
	})
}
