package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/store"
)

// The vault's owner, upstream and secret in these tests: none may appear
// in a stored row or its key.
const (
	vaultNS    = "upstream_tokens"
	vaultOwner = "alice@corp.example"
	vaultName  = "calendar"
	vaultToken = "ya29.a0AfH6SMBx-very-secret-upstream-token"
)

func vaultKey(b byte) []byte { return bytes.Repeat([]byte{b}, store.VaultKeySize) }

func newVault(t *testing.T, s store.Store, keys ...[]byte) *store.Vault {
	t.Helper()
	v, err := store.NewVault(s, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustOpen(t *testing.T, v *store.Vault, owner, name string) (string, bool) {
	t.Helper()
	secret, ok, err := v.Get(context.Background(), vaultNS, owner, name)
	if err != nil {
		t.Fatalf("vault get %s/%s: %v", owner, name, err)
	}
	return string(secret), ok
}

func mustSeal(t *testing.T, v *store.Vault, owner, name, secret string, expires time.Time) {
	t.Helper()
	if err := v.Put(context.Background(), vaultNS, owner, name, []byte(secret), expires); err != nil {
		t.Fatal(err)
	}
}

// sealedRow opens a store, seals vaultToken for vaultOwner and vaultName
// with a vault of one key, and returns both and the stored row.
func sealedRow(t *testing.T, open opener) (store.Store, *store.Vault, []byte) {
	t.Helper()
	s := open(t, nil)
	v := newVault(t, s, vaultKey(1))
	mustSeal(t, v, vaultOwner, vaultName, vaultToken, time.Time{})
	return s, v, rawRow(t, s, vaultOwner, vaultName)
}

// rawRow returns the stored row of (owner, name), failing if there is none.
func rawRow(t *testing.T, s store.Store, owner, name string) []byte {
	t.Helper()
	row, ok, err := s.Get(context.Background(), vaultNS, store.VaultStoreKey(owner, name))
	if err != nil || !ok {
		t.Fatalf("raw row of %s/%s: %v %v", owner, name, ok, err)
	}
	return row
}

// vaultSuite runs the vault's contract against one store implementation.
func vaultSuite(t *testing.T, open opener) {
	for name, test := range map[string]func(*testing.T, opener){
		"round trip":           testVaultRoundTrip,
		"rows are ciphertext":  testVaultCiphertext,
		"moved rows":           testVaultMoved,
		"rotation":             testVaultRotation,
		"expiry":               testVaultExpiry,
		"tampered":             testVaultTampered,
		"store errors wrapped": testVaultStoreErrors,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open)
		})
	}
}

func TestFileVault(t *testing.T) {
	t.Parallel()
	vaultSuite(t, openFile)
}

func testVaultRoundTrip(t *testing.T, open opener) {
	ctx := context.Background()
	v := newVault(t, open(t, nil), vaultKey(1))
	if s, ok := mustOpen(t, v, vaultOwner, vaultName); ok {
		t.Fatalf("missing entry: %q, true", s)
	}
	mustSeal(t, v, vaultOwner, vaultName, "first", time.Time{})
	mustSeal(t, v, vaultOwner, vaultName, vaultToken, time.Time{})
	mustSeal(t, v, "bob@corp.example", vaultName, "bob's", time.Time{})
	if s, ok := mustOpen(t, v, vaultOwner, vaultName); !ok || s != vaultToken {
		t.Fatalf("after two puts: %q %v, want the second secret", s, ok)
	}
	if s, _ := mustOpen(t, v, "bob@corp.example", vaultName); s != "bob's" {
		t.Errorf("another owner's entry: %q", s)
	}
	mustSeal(t, v, vaultOwner, "empty", "", time.Time{})
	if s, ok := mustOpen(t, v, vaultOwner, "empty"); !ok || s != "" {
		t.Errorf("empty secret: %q %v, want present and empty", s, ok)
	}
	if err := v.Delete(ctx, vaultNS, vaultOwner, vaultName); err != nil {
		t.Fatal(err)
	}
	if err := v.Delete(ctx, vaultNS, vaultOwner, vaultName); err != nil {
		t.Errorf("deleting a missing entry: %v", err)
	}
	if _, ok := mustOpen(t, v, vaultOwner, vaultName); ok {
		t.Error("deleted entry still there")
	}
	for _, pair := range [][2]string{{"", vaultName}, {vaultOwner, ""}} {
		if err := v.Put(ctx, vaultNS, pair[0], pair[1], []byte("x"), time.Time{}); err == nil {
			t.Errorf("put with owner %q, name %q accepted", pair[0], pair[1])
		}
	}
}

// What the store holds shows neither the secret nor whose it is or for
// which upstream; two seals of one secret differ (random nonces).
func testVaultCiphertext(t *testing.T, open opener) {
	s := open(t, nil)
	key := vaultKey(1)
	v := newVault(t, s, key)
	mustSeal(t, v, vaultOwner, vaultName, vaultToken, time.Time{})
	first := rawRow(t, s, vaultOwner, vaultName)
	storeKey := store.VaultStoreKey(vaultOwner, vaultName)
	for _, clear := range []string{vaultToken, vaultToken[:12], vaultOwner, "alice", vaultName} {
		if bytes.Contains(first, []byte(clear)) {
			t.Errorf("the stored row contains %q", clear)
		}
		if strings.Contains(storeKey, clear) {
			t.Errorf("the store key %q contains %q", storeKey, clear)
		}
	}
	for _, k := range [][]byte{key, []byte(base64.StdEncoding.EncodeToString(key))} {
		if bytes.Contains(first, k) {
			t.Error("the stored row contains the key")
		}
	}
	if n := len(first); n != 1+8+12+8+len(vaultToken)+16 {
		t.Errorf("row of %d bytes for a %d-byte secret", n, len(vaultToken))
	}
	mustSeal(t, v, vaultOwner, vaultName, vaultToken, time.Time{})
	if bytes.Equal(first, rawRow(t, s, vaultOwner, vaultName)) {
		t.Error("two seals of one secret are identical: nonces repeat")
	}
	if n, err := store.RawCount(s, vaultNS); err != nil || n != 1 {
		t.Errorf("rows in the namespace: %d %v, want 1", n, err)
	}
}

// A row copied under another owner, upstream or namespace does not open
// there: the additional data binds all three.
func testVaultMoved(t *testing.T, open opener) {
	ctx := context.Background()
	s, v, row := sealedRow(t, open)
	for name, to := range map[string]struct{ ns, owner, name string }{
		"another owner":     {vaultNS, "mallory@corp.example", vaultName},
		"another upstream":  {vaultNS, vaultOwner, "hr"},
		"another namespace": {"other_tokens", vaultOwner, vaultName},
		"fields shifted":    {vaultNS, vaultOwner + vaultName[:1], vaultName[1:]},
	} {
		if err := s.Put(ctx, to.ns, store.VaultStoreKey(to.owner, to.name), row, time.Time{}); err != nil {
			t.Fatal(err)
		}
		secret, ok, err := v.Get(ctx, to.ns, to.owner, to.name)
		if !errors.Is(err, store.ErrVaultInvalid) || ok || secret != nil {
			t.Errorf("%s: Get = %q, %v, %v; want ErrVaultInvalid and nothing", name, secret, ok, err)
		}
	}
	if got, _ := mustOpen(t, v, vaultOwner, vaultName); got != vaultToken {
		t.Errorf("the original no longer opens: %q", got)
	}
}

// Rotation: [k1] seals; [k2, k1] opens k1's rows and seals new ones with
// k2; [k2] alone opens those and refuses k1's, naming k1's id.
func testVaultRotation(t *testing.T, open opener) {
	s := open(t, nil)
	k1, k2 := vaultKey(1), vaultKey(2)
	mustSeal(t, newVault(t, s, k1), vaultOwner, vaultName, "sealed with k1", time.Time{})
	mustSeal(t, newVault(t, s, k1), vaultOwner, "notes", "also k1", time.Time{})

	both := newVault(t, s, k2, k1)
	if got, ok := mustOpen(t, both, vaultOwner, vaultName); !ok || got != "sealed with k1" {
		t.Fatalf("[k2 k1] opens a k1 row: %q %v", got, ok)
	}
	mustSeal(t, both, vaultOwner, vaultName, "sealed with k2", time.Time{})
	if row := rawRow(t, s, vaultOwner, vaultName); !bytes.Equal(row[1:9], kidBytes(t, k2)) {
		t.Errorf("Put under [k2 k1] did not seal with k2")
	}

	only2 := newVault(t, s, k2)
	if got, ok := mustOpen(t, only2, vaultOwner, vaultName); !ok || got != "sealed with k2" {
		t.Errorf("[k2] opens the re-sealed row: %q %v", got, ok)
	}
	secret, ok, err := only2.Get(context.Background(), vaultNS, vaultOwner, "notes")
	if !errors.Is(err, store.ErrVaultUnknownKey) || ok || secret != nil {
		t.Fatalf("[k2] on a k1 row: %q %v %v, want ErrVaultUnknownKey", secret, ok, err)
	}
	if !strings.Contains(err.Error(), "key id "+store.VaultKeyID(k1)) {
		t.Errorf("error %q does not name k1's id %s", err, store.VaultKeyID(k1))
	}
	if _, _, err := newVault(t, s, k1).Get(context.Background(), vaultNS, vaultOwner, vaultName); !errors.Is(err, store.ErrVaultUnknownKey) {
		t.Errorf("[k1] on a k2 row: %v, want ErrVaultUnknownKey", err)
	}
}

func kidBytes(t *testing.T, key []byte) []byte {
	t.Helper()
	b, err := hex.DecodeString(store.VaultKeyID(key))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Expiry is the store's, and also sealed with the entry: a row whose
// stored expiry was lifted still expires when it was sealed to.
func testVaultExpiry(t *testing.T, open opener) {
	ctx := context.Background()
	c := newClock()
	s := open(t, c.opts())
	v := newVault(t, s, vaultKey(1))
	store.SetVaultClock(v, c.Now)
	mustSeal(t, v, vaultOwner, vaultName, vaultToken, c.in(time.Minute))
	mustSeal(t, v, vaultOwner, "lifted", vaultToken, c.in(time.Minute))
	mustSeal(t, v, vaultOwner, "long", "long", c.in(time.Hour))
	if _, ok := mustOpen(t, v, vaultOwner, vaultName); !ok {
		t.Fatal("entry missing before its expiry")
	}
	row := rawRow(t, s, vaultOwner, "lifted")
	if err := s.Put(ctx, vaultNS, store.VaultStoreKey(vaultOwner, "lifted"), row, time.Time{}); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	for _, name := range []string{vaultName, "lifted"} {
		if got, ok := mustOpen(t, v, vaultOwner, name); ok {
			t.Errorf("%s: entry returned at its expiry: %q", name, got)
		}
	}
	if got, ok := mustOpen(t, v, vaultOwner, "long"); !ok || got != "long" {
		t.Errorf("entry expiring later: %q %v", got, ok)
	}
}

// Any change to a row, or a row that is not a vault's, is refused without
// returning anything of it.
func testVaultTampered(t *testing.T, open opener) {
	ctx := context.Background()
	s, v, row := sealedRow(t, open)
	key := store.VaultStoreKey(vaultOwner, vaultName)
	cases := map[string][]byte{
		"empty":          {},
		"plaintext":      []byte(vaultToken),
		"truncated":      row[:len(row)-1],
		"header only":    row[:21],
		"appended":       append(append([]byte{}, row...), 0),
		"format":         flip(row, 0),
		"key id":         flip(row, 1),
		"nonce":          flip(row, 9),
		"sealed expiry":  flip(row, 21),
		"secret":         flip(row, 21+8+3),
		"tag":            flip(row, len(row)-1),
		"another format": append([]byte{2}, row[1:]...),
	}
	for name, bad := range cases {
		if err := s.Put(ctx, vaultNS, key, bad, time.Time{}); err != nil {
			t.Fatal(err)
		}
		secret, ok, err := v.Get(ctx, vaultNS, vaultOwner, vaultName)
		if err == nil || ok || secret != nil {
			t.Errorf("%s: Get = %q, %v, %v; want an error and nothing", name, secret, ok, err)
			continue
		}
		if !errors.Is(err, store.ErrVaultInvalid) && !errors.Is(err, store.ErrVaultUnknownKey) {
			t.Errorf("%s: %v, want ErrVaultInvalid or ErrVaultUnknownKey", name, err)
		}
		if strings.Contains(err.Error(), vaultToken[:12]) || strings.Contains(err.Error(), vaultOwner) {
			t.Errorf("%s: the error %q shows the secret or the owner", name, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte{}, b...)
	out[i] ^= 0x01
	return out
}

// Store failures come back wrapped, so callers can still tell them.
func testVaultStoreErrors(t *testing.T, open opener) {
	ctx := context.Background()
	s := open(t, nil)
	v := newVault(t, s, vaultKey(1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err := v.Get(ctx, vaultNS, vaultOwner, vaultName)
	for op, err := range map[string]error{
		"get":    err,
		"put":    v.Put(ctx, vaultNS, vaultOwner, vaultName, []byte(vaultToken), time.Time{}),
		"delete": v.Delete(ctx, vaultNS, vaultOwner, vaultName),
	} {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s on a closed store: %v, want ErrClosed", op, err)
		}
	}
}

// NewVault refuses what cannot be a vault's keys, naming the index and
// never the key.
func TestNewVaultRefuses(t *testing.T) {
	t.Parallel()
	s := openFile(t, nil)
	k1, k2 := vaultKey(1), vaultKey(2)
	tests := map[string]struct {
		st   store.Store
		keys [][]byte
		want string
	}{
		"no store":      {nil, [][]byte{k1}, "no store"},
		"no keys":       {s, nil, "no key"},
		"empty list":    {s, [][]byte{}, "no key"},
		"short key":     {s, [][]byte{k1, k2[:16]}, "keys[1]: a key must be 32 bytes, this one is 16"},
		"long key":      {s, [][]byte{append(append([]byte{}, k1...), 0)}, "keys[0]: a key must be 32 bytes, this one is 33"},
		"empty key":     {s, [][]byte{k1, {}}, "keys[1]: a key must be 32 bytes, this one is 0"},
		"duplicate":     {s, [][]byte{k1, k2, vaultKey(1)}, "keys[2]: the same key as keys[0]"},
		"first is dup":  {s, [][]byte{k2, k2}, "keys[1]: the same key as keys[0]"},
		"base64 string": {s, [][]byte{[]byte(base64.StdEncoding.EncodeToString(k1))}, "keys[0]: a key must be 32 bytes, this one is 44"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := store.NewVault(tc.st, tc.keys)
			if err == nil || v != nil {
				t.Fatalf("NewVault = %v, %v; want an error", v, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			for _, k := range tc.keys {
				if len(k) > 0 && (strings.Contains(err.Error(), string(k)) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k))) {
					t.Errorf("error %q shows a key", err)
				}
			}
		})
	}
}

// Key ids identify keys without showing them, and are what
// docs/deployment.md computes with sha256sum.
func TestVaultKeyID(t *testing.T) {
	t.Parallel()
	if a, b := store.VaultKeyID(vaultKey(1)), store.VaultKeyID(vaultKey(2)); a == b || len(a) != 16 {
		t.Errorf("key ids %q %q: want 16 hex digits, distinct", a, b)
	}
	// printf 'mcpgate vault key id\0' | cat - <(head -c 32 /dev/zero) | sha256sum | cut -c1-16
	if got, want := store.VaultKeyID(make([]byte, 32)), "224cf225fbc9ce03"; got != want {
		t.Errorf("VaultKeyID(zero key) = %s, want %s", got, want)
	}
}

// Whatever a row holds, Get neither panics nor returns a secret it did not
// authenticate (the seed sealed for vaultName is stored here under another
// name, so it must not open either).
func FuzzVaultOpen(f *testing.F) {
	s, err := store.OpenFile(filepath.Join(f.TempDir(), "mcpgate.db"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	v, err := store.NewVault(s, [][]byte{vaultKey(1)})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	if err := v.Put(ctx, vaultNS, vaultOwner, vaultName, []byte(vaultToken), time.Time{}); err != nil {
		f.Fatal(err)
	}
	sealed, _, err := s.Get(ctx, vaultNS, store.VaultStoreKey(vaultOwner, vaultName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add([]byte{1})
	f.Add(append([]byte{1}, make([]byte, 60)...))
	key := store.VaultStoreKey(vaultOwner, "fuzzed")
	f.Fuzz(func(t *testing.T, row []byte) {
		if err := s.Put(ctx, vaultNS, key, row, time.Time{}); err != nil {
			t.Fatal(err)
		}
		secret, ok, err := v.Get(ctx, vaultNS, vaultOwner, "fuzzed")
		if ok || secret != nil || err == nil {
			t.Errorf("row %x: Get = %q, %v, %v; want an error and nothing", row, secret, ok, err)
		}
	})
}
