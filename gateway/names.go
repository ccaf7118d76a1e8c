package gateway

import (
	"crypto/sha256"
	"encoding/hex"
)

// MaxNameLength is the longest tool or prompt name the gateway exposes.
// Several MCP clients refuse longer tool names, so longer namespaced names are
// shortened deterministically.
const MaxNameLength = 64

// nameHashLen is the number of hex digits of the hash kept in a shortened name.
const nameHashLen = 8

// namer builds the names a client sees from an upstream's prefix and the
// upstream's own name for a tool or prompt.
type namer struct {
	sep string
}

// name returns prefix+sep+name, or name when prefix is empty. A result longer
// than MaxNameLength keeps its beginning and ends in '-' and a short hash of
// the full name, so the same inputs always give the same name and different
// inputs practically never collide.
func (n namer) name(prefix, name string) string {
	full := name
	if prefix != "" {
		full = prefix + n.sep + name
	}
	if len(full) <= MaxNameLength {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	suffix := hex.EncodeToString(sum[:])[:nameHashLen]
	keep := MaxNameLength - nameHashLen - 1
	return full[:keep] + "-" + suffix
}
