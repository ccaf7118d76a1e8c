package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
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

// MaxUpstreamNameLength is the longest tool or prompt name the gateway
// takes from an upstream: MCP's tool name format (SEP-986), 1 to 128
// characters of A-Z, a-z, 0-9, '_', '-' and '.'.
const MaxUpstreamNameLength = 128

// checkUpstreamName refuses an upstream's tool or prompt name outside
// MCP's tool name format (SEP-986). Such a name is left out of the
// catalog: a control character, a line break, a bidirectional override or
// a sentence ("ignore previous instructions …") in a name would reach
// every client and model that lists it, and could pass for another name.
// The same rule applies to prompt names, which clients show as commands.
func checkUpstreamName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the name is empty")
	case len(name) > MaxUpstreamNameLength:
		return fmt.Errorf("the name is %d bytes long, over MCP's limit of %d characters", len(name), MaxUpstreamNameLength)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !validNameByte(c) {
			return fmt.Errorf("the name has a character outside MCP's tool name format (A-Z a-z 0-9 _ - .) at byte %d", i)
		}
	}
	return nil
}

func validNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// quoteName is name for logs and /readyz: quoted with every control,
// format (bidirectional) and non-ASCII character escaped, and cut to its
// first 64 bytes (the length said) so that a huge name cannot flood them.
func quoteName(name string) string {
	const keep = 64
	if len(name) <= keep {
		return strconv.QuoteToASCII(name)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.QuoteToASCII(name[:keep]), len(name))
}
