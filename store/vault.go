package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// VaultKeySize is the length of a vault key: AES-256.
const VaultKeySize = 32

// The sealed form of a vault entry: format byte, key id, nonce, then the
// AES-256-GCM ciphertext of the sealed expiry (8 bytes, Unix nanoseconds,
// 0 for never) followed by the secret.
const (
	vaultFormat    byte = 1
	vaultKIDLen         = 8
	vaultNonceLen       = 12
	vaultHeaderLen      = 1 + vaultKIDLen + vaultNonceLen
	vaultExpiryLen      = 8
)

var (
	// ErrVaultUnknownKey is returned by [Vault.Get] for an entry sealed
	// with a key that is not among the vault's keys: a key was dropped
	// from the key file while entries sealed with it were still alive.
	ErrVaultUnknownKey = errors.New("store: vault: sealed with a key that is not configured")
	// ErrVaultInvalid is returned by [Vault.Get] for an entry that does
	// not authenticate: tampered with, copied from another namespace,
	// owner or name, or not written by a vault.
	ErrVaultInvalid = errors.New("store: vault: entry does not authenticate")
)

// Vault keeps secrets, such as employees' upstream tokens, encrypted in a
// [Store]: AES-256-GCM with a random nonce per entry, the namespace, owner
// and name bound as additional data, so an entry copied to another owner,
// upstream or namespace does not open. The first key seals; every key
// opens, chosen by the key id stored with the entry, so keys rotate
// without downtime: add the new key second, deploy, move it first, and
// drop the old one once nothing sealed with it is alive. Entries are
// re-sealed with the first key when they are written again.
//
// The store key of an entry is a SHA-256 hash of owner and name, so the
// store shows neither in clear; being unkeyed, it lets someone who reads
// the store confirm a guessed (owner, name) pair. What the store cannot
// prevent either: replacing an entry by an older sealed value of the same
// entry (rollback), or deleting it.
//
// A Vault is safe for concurrent use. Its errors never hold a secret, a
// key, an owner or a name.
type Vault struct {
	st    Store
	kid   [vaultKIDLen]byte
	aeads map[[vaultKIDLen]byte]cipher.AEAD
	now   func() time.Time
}

// NewVault returns a vault keeping its entries in st, sealing with keys[0]
// and opening with any of keys, each [VaultKeySize] bytes. It refuses no
// keys, keys of another length and a key given twice; errors name the
// key by its index, never by its value.
func NewVault(st Store, keys [][]byte) (*Vault, error) {
	if st == nil {
		return nil, errors.New("store: new vault: no store")
	}
	if len(keys) == 0 {
		return nil, errors.New("store: new vault: no key")
	}
	v := &Vault{st: st, aeads: make(map[[vaultKIDLen]byte]cipher.AEAD, len(keys)), now: time.Now}
	index := make(map[[vaultKIDLen]byte]int, len(keys))
	for i, k := range keys {
		if len(k) != VaultKeySize {
			return nil, fmt.Errorf("store: new vault: keys[%d]: a key must be %d bytes, this one is %d", i, VaultKeySize, len(k))
		}
		id := vaultKeyID(k)
		if j, dup := index[id]; dup {
			if subtle.ConstantTimeCompare(k, keys[j]) == 1 {
				return nil, fmt.Errorf("store: new vault: keys[%d]: the same key as keys[%d]", i, j)
			}
			return nil, fmt.Errorf("store: new vault: keys[%d]: its key id is that of keys[%d]; generate another key", i, j)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("store: new vault: keys[%d]: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("store: new vault: keys[%d]: %w", i, err)
		}
		index[id], v.aeads[id] = i, aead
	}
	v.kid = vaultKeyID(keys[0])
	return v, nil
}

// VaultKeyID returns the id by which entries name the key that sealed
// them, in hex: the first 8 bytes of SHA-256("mcpgate vault key id\x00" ||
// key). It identifies a key without revealing it (docs/deployment.md shows
// how to compute it from a key file).
func VaultKeyID(key []byte) string {
	id := vaultKeyID(key)
	return fmt.Sprintf("%x", id[:])
}

func vaultKeyID(key []byte) (id [vaultKIDLen]byte) {
	h := sha256.New()
	h.Write([]byte("mcpgate vault key id\x00"))
	h.Write(key)
	copy(id[:], h.Sum(nil))
	return id
}

// Put seals secret for (owner, name) in ns until expires (zero: never),
// replacing any entry, with the first key.
func (v *Vault) Put(ctx context.Context, ns, owner, name string, secret []byte, expires time.Time) error {
	if owner == "" || name == "" {
		return errors.New("store: vault: put: empty owner or name")
	}
	sealed, err := v.seal(ns, owner, name, secret, expires)
	if err != nil {
		return fmt.Errorf("store: vault: put: %w", err)
	}
	if err := v.st.Put(ctx, ns, vaultStoreKey(owner, name), sealed, expires); err != nil {
		return fmt.Errorf("store: vault: put: %w", err)
	}
	return nil
}

// Get returns the secret of (owner, name) in ns, and whether there is one
// that has not expired. An entry that does not authenticate is an error
// wrapping [ErrVaultInvalid], one sealed with a key the vault does not
// have an error wrapping [ErrVaultUnknownKey]; neither returns anything of
// the entry.
func (v *Vault) Get(ctx context.Context, ns, owner, name string) (secret []byte, ok bool, err error) {
	sealed, ok, err := v.st.Get(ctx, ns, vaultStoreKey(owner, name))
	if err != nil {
		return nil, false, fmt.Errorf("store: vault: get: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	return v.open(ns, owner, name, sealed)
}

// Delete removes the entry of (owner, name) in ns; removing a missing one
// is no error.
func (v *Vault) Delete(ctx context.Context, ns, owner, name string) error {
	if err := v.st.Delete(ctx, ns, vaultStoreKey(owner, name)); err != nil {
		return fmt.Errorf("store: vault: delete: %w", err)
	}
	return nil
}

func (v *Vault) seal(ns, owner, name string, secret []byte, expires time.Time) ([]byte, error) {
	aead := v.aeads[v.kid]
	plain := make([]byte, vaultExpiryLen, vaultExpiryLen+len(secret))
	binary.BigEndian.PutUint64(plain, unixNano(expires))
	plain = append(plain, secret...)
	out := make([]byte, vaultHeaderLen, vaultHeaderLen+len(plain)+aead.Overhead())
	out[0] = vaultFormat
	copy(out[1:], v.kid[:])
	if _, err := rand.Read(out[1+vaultKIDLen : vaultHeaderLen]); err != nil {
		return nil, err
	}
	out = aead.Seal(out, out[1+vaultKIDLen:vaultHeaderLen], plain, vaultAD(out[:vaultHeaderLen], ns, owner, name))
	clear(plain) // the copy of the secret; the caller owns the original
	return out, nil
}

func (v *Vault) open(ns, owner, name string, sealed []byte) ([]byte, bool, error) {
	if len(sealed) < vaultHeaderLen || sealed[0] != vaultFormat {
		return nil, false, fmt.Errorf("%w: not a vault entry of format %d", ErrVaultInvalid, vaultFormat)
	}
	kid := [vaultKIDLen]byte(sealed[1 : 1+vaultKIDLen])
	aead, ok := v.aeads[kid]
	if !ok {
		return nil, false, fmt.Errorf("%w: key id %x; restore that key to the vault key file, or delete the entry", ErrVaultUnknownKey, kid[:])
	}
	plain, err := aead.Open(nil, sealed[1+vaultKIDLen:vaultHeaderLen], sealed[vaultHeaderLen:], vaultAD(sealed[:vaultHeaderLen], ns, owner, name))
	if err != nil || len(plain) < vaultExpiryLen {
		return nil, false, ErrVaultInvalid
	}
	if exp := binary.BigEndian.Uint64(plain); exp != 0 && v.now().UnixNano() >= int64(exp) {
		clear(plain)
		return nil, false, nil
	}
	return plain[vaultExpiryLen:], true, nil
}

// vaultAD is the additional data of an entry: a label, the entry's header
// (format, key id, nonce) and its namespace, owner and name, each
// length-prefixed so that no two triples encode alike.
func vaultAD(header []byte, ns, owner, name string) []byte {
	ad := append([]byte("mcpgate vault\x00"), header...)
	return appendFields(ad, ns, owner, name)
}

// VaultStoreKey returns the store key under which a vault keeps the entry
// of (owner, name), in any namespace: for reading the store directly (an
// audit that rows are ciphertext, a test), never needed to use a vault.
func VaultStoreKey(owner, name string) string { return vaultStoreKey(owner, name) }

// vaultStoreKey is the store key of (owner, name): base64url of the
// SHA-256 of both, length-prefixed, so the store shows neither.
func vaultStoreKey(owner, name string) string {
	sum := sha256.Sum256(appendFields([]byte("mcpgate vault entry\x00"), owner, name))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func appendFields(b []byte, fields ...string) []byte {
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// unixNano is t in Unix nanoseconds, 0 for the zero time (never).
func unixNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}
