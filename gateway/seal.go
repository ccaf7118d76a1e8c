package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/mcpgate/mcpgate/internal/sealbox"
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
	box *sealbox.Box
	aad []byte
	now func() time.Time
}

// newSealer returns a sealer for keys (32 bytes each, the first sealing)
// bound to resource, the gateway's MCP URL: an id sealed for another
// deployment with the same key does not open here.
func newSealer(keys [][]byte, resource string) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no session key")
	}
	box, err := sealbox.New(keys, "session")
	if err != nil {
		return nil, err
	}
	return &sealer{box: box, aad: []byte("mcpgate session\x00" + resource), now: time.Now}, nil
}

// seal returns st as a session id: base64url of the sealed JSON.
func (s *sealer) seal(st *sealedState) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	sealed, err := s.box.Seal(plain, s.aad)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// open authenticates and decrypts a session id. Any failure is
// errSealInvalid or errSealExpired, saying nothing more to the caller.
func (s *sealer) open(id string) (*sealedState, error) {
	if len(id) > maxSealedIDLen {
		return nil, errSealInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil {
		return nil, errSealInvalid
	}
	plain, err := s.box.Open(raw, s.aad)
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
