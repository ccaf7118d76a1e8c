package sealbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// Layout of a sealed value: format byte, key id, nonce, then the AES-GCM
// ciphertext and tag. The header is authenticated with the caller's
// additional data.
const (
	format    byte = 1
	kidLen         = 4
	nonceLen       = 12
	headerLen      = 1 + kidLen + nonceLen
)

// ErrInvalid is any sealed value that does not open: malformed, sealed by
// a key not in the ring, with other additional data, or tampered with. It
// says nothing more, on purpose.
var ErrInvalid = errors.New("sealbox: not sealed by a key of this ring")

// KeyID is the short identifier of a key written into sealed values.
type KeyID [kidLen]byte

// Box seals with its first key and opens with any of its keys. It is safe
// for concurrent use.
type Box struct {
	kid   KeyID
	aeads map[KeyID]cipher.AEAD
	label string
}

// New returns a Box for keys (KeySize bytes each, the first sealing).
// label names the keys' purpose (e.g. "session"): key ids are derived
// from it, so the same key used for two purposes has two ids. A key
// given twice is kept once.
func New(keys [][]byte, label string) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("sealbox: no key")
	}
	b := &Box{aeads: make(map[KeyID]cipher.AEAD, len(keys)), label: label}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("sealbox: key %d is %d bytes, want %d", i+1, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("sealbox: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("sealbox: key %d: %w", i+1, err)
		}
		id := b.KeyID(k)
		if i == 0 {
			b.kid = id
		}
		if _, dup := b.aeads[id]; !dup {
			b.aeads[id] = aead
		}
	}
	return b, nil
}

// KeyID returns the id a key has in this Box: the first bytes of
// SHA-256("mcpgate <label> key id" NUL key).
func (b *Box) KeyID(key []byte) (id KeyID) {
	h := sha256.New()
	h.Write([]byte("mcpgate " + b.label + " key id\x00"))
	h.Write(key)
	copy(id[:], h.Sum(nil))
	return id
}

// SealingKeyID is the id of the key that seals.
func (b *Box) SealingKeyID() KeyID { return b.kid }

// Overhead is how many bytes Seal adds to a plaintext.
func (b *Box) Overhead() int { return headerLen + b.aeads[b.kid].Overhead() }

// Seal encrypts and authenticates plaintext, binding ad (additional data
// that Open must be given again, e.g. what the value is for and where).
func (b *Box) Seal(plaintext, ad []byte) ([]byte, error) {
	aead := b.aeads[b.kid]
	buf := make([]byte, headerLen, headerLen+len(plaintext)+aead.Overhead())
	buf[0] = format
	copy(buf[1:], b.kid[:])
	if _, err := rand.Read(buf[1+kidLen : headerLen]); err != nil {
		return nil, fmt.Errorf("sealbox: nonce: %w", err)
	}
	return aead.Seal(buf, buf[1+kidLen:headerLen], plaintext, additional(buf[:headerLen], ad)), nil
}

// Open authenticates and decrypts sealed with the key its id names. Any
// failure is ErrInvalid.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < headerLen || sealed[0] != format {
		return nil, ErrInvalid
	}
	aead, ok := b.aeads[KeyID(sealed[1:1+kidLen])]
	if !ok || len(sealed) < headerLen+aead.Overhead() {
		return nil, ErrInvalid
	}
	plain, err := aead.Open(nil, sealed[1+kidLen:headerLen], sealed[headerLen:], additional(sealed[:headerLen], ad))
	if err != nil {
		return nil, ErrInvalid
	}
	return plain, nil
}

func additional(header, ad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(ad)), header...), ad...)
}
