package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	sessionIDHeader = "Mcp-Session-Id"

	// sealedSessionLifetime bounds how long after its creation a sealed
	// session id can be taken over by another replica; past it, the
	// client gets 404 there and initialises a new session.
	sealedSessionLifetime = 24 * time.Hour
	// sealedClockSkew is how far in the future a sealed creation time may
	// lie (clocks of replicas differ).
	sealedClockSkew = 5 * time.Minute
	// maxSealedParams bounds the initialize parameters sealed into an id,
	// which every request then carries in a header. A session with larger
	// ones (huge experimental capabilities) keeps its local id and lives on
	// its replica only.
	maxSealedParams = 4 << 10
	// maxSealedIDLen bounds the session ids the gateway tries to open.
	maxSealedIDLen = 8 << 10

	sealFormat    byte = 1
	kidLen             = 4
	nonceLen           = 12
	sealHeaderLen      = 1 + kidLen + nonceLen
)

var (
	errSealInvalid = errors.New("not a session id sealed by a key of this gateway")
	errSealExpired = errors.New("sealed session is too old")
)

// sealedState is what a session id carries.
type sealedState struct {
	// User is the session's go-sdk user id (the caller's issuer and
	// subject), empty without sign-in.
	User string `json:"u,omitempty"`
	// Created is when the session was initialised, in Unix seconds.
	Created int64 `json:"t"`
	// Params are the client's initialize parameters, without _meta.
	Params json.RawMessage `json:"p"`
}

// sealer seals and opens session state. The first key seals; every key
// opens, chosen by the key id in the sealed bytes.
type sealer struct {
	aad   []byte
	kid   [kidLen]byte
	aeads map[[kidLen]byte]cipher.AEAD
	now   func() time.Time
}

// newSealer returns a sealer for keys (32 bytes each, the first sealing)
// bound to resource, the gateway's MCP URL: an id sealed for another
// deployment with the same key does not open here.
func newSealer(keys [][]byte, resource string) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no session key")
	}
	s := &sealer{
		aad:   []byte("mcpgate session\x00" + resource),
		aeads: make(map[[kidLen]byte]cipher.AEAD, len(keys)),
		now:   time.Now,
	}
	for i, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("session key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("session key %d: %w", i+1, err)
		}
		id := keyID(k)
		if i == 0 {
			s.kid = id
		}
		if _, dup := s.aeads[id]; !dup {
			s.aeads[id] = aead
		}
	}
	return s, nil
}

func keyID(key []byte) (id [kidLen]byte) {
	h := sha256.New()
	h.Write([]byte("mcpgate session key id\x00"))
	h.Write(key)
	copy(id[:], h.Sum(nil))
	return id
}

// seal returns st as a session id: base64url of format byte, key id,
// nonce and the AES-GCM ciphertext, the first three also authenticated.
func (s *sealer) seal(st *sealedState) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	aead := s.aeads[s.kid]
	buf := make([]byte, sealHeaderLen, sealHeaderLen+len(plain)+aead.Overhead())
	buf[0] = sealFormat
	copy(buf[1:], s.kid[:])
	if _, err := rand.Read(buf[1+kidLen : sealHeaderLen]); err != nil {
		return "", err
	}
	buf = aead.Seal(buf, buf[1+kidLen:sealHeaderLen], plain, s.additional(buf[:sealHeaderLen]))
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// open authenticates and decrypts a session id. Any failure is
// errSealInvalid or errSealExpired, saying nothing more to the caller.
func (s *sealer) open(id string) (*sealedState, error) {
	if len(id) > maxSealedIDLen {
		return nil, errSealInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil || len(raw) < sealHeaderLen || raw[0] != sealFormat {
		return nil, errSealInvalid
	}
	aead, ok := s.aeads[[kidLen]byte(raw[1:1+kidLen])]
	if !ok || len(raw) < sealHeaderLen+aead.Overhead() {
		return nil, errSealInvalid
	}
	plain, err := aead.Open(nil, raw[1+kidLen:sealHeaderLen], raw[sealHeaderLen:], s.additional(raw[:sealHeaderLen]))
	if err != nil {
		return nil, errSealInvalid
	}
	var st sealedState
	if err := json.Unmarshal(plain, &st); err != nil || len(st.Params) == 0 {
		return nil, errSealInvalid
	}
	created := time.Unix(st.Created, 0)
	if now := s.now(); now.Sub(created) > sealedSessionLifetime || created.Sub(now) > sealedClockSkew {
		return nil, errSealExpired
	}
	return &st, nil
}

func (s *sealer) additional(header []byte) []byte {
	return append(append([]byte(nil), header...), s.aad...)
}

// sealableParams returns the initialize parameters of a single initialize
// request, without _meta and re-encoded, or nil when the message is not one
// or they are too large to seal.
func sealableParams(e *envelope) json.RawMessage {
	if e == nil || e.Method != "initialize" || len(e.ID) == 0 {
		return nil
	}
	var p mcp.InitializeParams
	if json.Unmarshal(e.Params, &p) != nil || p.ProtocolVersion == "" {
		return nil
	}
	p.Meta = nil
	out, err := json.Marshal(&p)
	if err != nil || len(out) > maxSealedParams {
		return nil
	}
	return out
}
